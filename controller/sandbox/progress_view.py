"""Showing ``Progress`` on the terminal: a table redrawn in place on a TTY, plain lines otherwise.

On a TTY ``rich``'s ``Live`` redraws one small table; anywhere else (a pipe, a CI log) a line is
printed only when a number changed, so a sandbox sitting idle prints nothing.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from controller.sandbox.progress import Progress

UNKNOWN = "?"


class ProgressView(Protocol):
    def __enter__(self) -> ProgressView: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def show(self, progress: Progress) -> None: ...


def fields(progress: Progress) -> list[tuple[str, str]]:
    """(label, value) pairs, in the order both views show them; unknown parts as ``?``."""
    controller, aws = progress.controller, progress.aws
    rows = [
        ("reconciled", str(controller.reconciled) if controller else UNKNOWN),
        ("pending", str(controller.pending) if controller else UNKNOWN),
        ("failed", str(controller.failed) if controller else UNKNOWN),
        ("load balancers", str(aws.load_balancers) if aws else UNKNOWN),
        ("our SGs", str(aws.our_security_groups) if aws else UNKNOWN),
    ]
    if aws is None:
        rows.append(("rules on node SGs", UNKNOWN))
    else:
        rows.extend((f"rules on {sg}", str(count)) for sg, count in aws.node_sg_rules)
    rows.append(("AWS calls", str(progress.aws_calls)))
    return rows


def plain_line(progress: Progress) -> str:
    return " | ".join(f"{label} {value}" for label, value in fields(progress))


def progress_table(progress: Progress, title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in fields(progress):
        table.add_row(label, value)
    return table


class PlainView:
    """One line per change of the numbers."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: str | None = None

    def __enter__(self) -> PlainView:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def show(self, progress: Progress) -> None:
        line = plain_line(progress)
        if line != self._last:
            self._last = line
            print(line, file=self._out, flush=True)


class LiveView:
    """The table, redrawn in place; it stays on screen, as last drawn, when the view closes."""

    def __init__(self, console: Console, title: str) -> None:
        self._title = title
        self._live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.stop()

    def show(self, progress: Progress) -> None:
        self._live.update(progress_table(progress, self._title), refresh=True)


def progress_view(out: TextIO, title: str) -> ProgressView:
    """The live table when ``out`` is a terminal, plain lines otherwise."""
    console = Console(file=out)
    if console.is_terminal:
        return LiveView(console, title)
    return PlainView(out)
