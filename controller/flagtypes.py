"""Go pflag-style flags: parsers for upstream's value syntaxes, and the argparse parser generated from
a settings dataclass whose fields carry their flag.

The AWS Load Balancer Controller is a Go program: booleans are written ``--flag=false``, durations
as Go durations (``10h``, ``16m40s``), and maps as ``k1=v1,k2=v2``. Each parser raises
``ValueError`` with a message naming the value, which argparse turns into a usage error.

A settings field declares its flag once, with ``flag(...)`` (help text, value parser, choices) beside
its default; ``add_flags`` turns the fields into argparse options, so the defaults, the flag names
(``--`` and the field name with dashes) and ``--help`` cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar, overload

T = TypeVar("T")

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")

_TRUE = frozenset({"1", "t", "true", "TRUE", "True", "T"})
_FALSE = frozenset({"0", "f", "false", "FALSE", "False", "F"})


def parse_bool(text: str) -> bool:
    """Parse a boolean the way Go's ``strconv.ParseBool`` does."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid boolean {text!r}")


def parse_duration(text: str) -> float:
    """Parse a Go duration (``1h30m``, ``15s``, ``500ms``, ``0``) into seconds."""
    value = text.strip()
    if not value:
        raise ValueError(f"invalid duration {text!r}")
    if value in ("0", "+0", "-0"):
        return 0.0
    sign = 1.0
    if value[:1] in "+-":
        sign = -1.0 if value[0] == "-" else 1.0
        value = value[1:]
    if not value:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def parse_string_map(text: str) -> dict[str, str]:
    """Parse ``k1=v1,k2=v2`` (pflag's StringToString); an empty string is an empty map."""
    result: dict[str, str] = {}
    if not text.strip():
        return result
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"invalid key=value pair {item!r} in {text!r}")
        result[key] = value.strip()
    return result


def parse_string_list(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list, trimming items and dropping empty ones."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_bool_map(text: str) -> dict[str, bool]:
    """Parse ``--feature-gates=A=true,B=false``."""
    return {key: parse_bool(value) for key, value in parse_string_map(text).items()}


def format_duration(seconds: float) -> str:
    """Write seconds as Go prints a duration (``10h0m0s``, ``16m40s``, ``15s``, ``500ms``), so
    ``--help`` shows defaults in the syntax the flags accept."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    remaining = abs(seconds)
    if remaining < 1:
        return f"{sign}{remaining * 1000:g}ms"
    hours, remaining = divmod(remaining, 3600)
    minutes, remaining = divmod(remaining, 60)
    text = f"{remaining:g}s"
    if hours or minutes:
        text = f"{minutes:g}m{text}"
    if hours:
        text = f"{hours:g}h{text}"
    return sign + text


def parse_bind_address(text: str) -> str:
    """Check an upstream-style bind address (``:8080``, ``127.0.0.1:0``, ``[::1]:9090``, ``0``) at
    parse time, so a typo is a usage error instead of a failure after start-up; kept as text."""
    # Imported here: the HTTP server module pulls in aiohttp, which `--help` does not need.
    from framework.httpserver import BindAddress

    try:
        BindAddress.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error} (use host:port, :port, or 0 to disable)") from None
    return text


def named_parser(kind: str, parse: Callable[[str], T]) -> Callable[[str], T]:
    """Wrap a parser so argparse reports ``invalid <kind> value: '<text>'``."""

    def convert(text: str) -> T:
        return parse(text)

    convert.__name__ = kind
    return convert


BOOLEAN = named_parser("boolean", parse_bool)
DURATION = named_parser("duration", parse_duration)
STRING_MAP = named_parser("key=value list", parse_string_map)
STRING_LIST = named_parser("comma-separated list", parse_string_list)

_FLAG = "flag"  # the key of a field's metadata that holds its Flag


@dataclasses.dataclass(frozen=True)
class Flag:
    """How one settings field is written on the command line; its name and default come from the field."""

    help: str
    # Turns the flag's text into the field's value; None keeps the text.
    parse: Callable[[str], object] | None = None
    choices: tuple[str, ...] | None = None


@overload
def flag(
    help: str,
    *,
    default: T,
    parse: Callable[[str], object] | None = None,
    choices: tuple[str, ...] | None = None,
) -> T: ...


@overload
def flag(
    help: str,
    *,
    default_factory: Callable[[], T],
    parse: Callable[[str], object] | None = None,
    choices: tuple[str, ...] | None = None,
) -> T: ...


def flag(
    help: str,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    parse: Callable[[str], object] | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its default and its flag. ``default_factory`` is for mutable defaults
    and for defaults read from the environment when the parser is built."""
    metadata = {_FLAG: Flag(help=help, parse=parse, choices=choices)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_name(field: dataclasses.Field[Any]) -> str:
    return "--" + field.name.replace("_", "-")


def flag_of(field: dataclasses.Field[Any]) -> Flag:
    spec = field.metadata.get(_FLAG)
    if not isinstance(spec, Flag):
        raise TypeError(f"field {field.name!r} has no flag: declare it with flag(...)")
    return spec


def default_of(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    if field.default is dataclasses.MISSING:
        raise TypeError(f"field {field.name!r} has no default: a flag left out needs one")
    return field.default


def add_flags(parser: argparse.ArgumentParser, settings: type[Any]) -> None:
    """One option per field of the ``settings`` dataclass, in field order (the ``--help`` order)."""
    for field in dataclasses.fields(settings):
        spec = flag_of(field)
        options: dict[str, Any] = {"help": spec.help, "default": default_of(field)}
        if spec.parse is not None:
            options["type"] = spec.parse
        if spec.choices is not None:
            options["choices"] = spec.choices
        if spec.parse is BOOLEAN:
            # `--flag` alone means true, as with Go's pflag booleans; `--flag=false` turns it off.
            options.update(nargs="?", const=True)
        parser.add_argument(flag_name(field), **options)


def show_default(action: argparse.Action) -> str:
    """An action's default written the way the flag accepts it (Go syntax for booleans,
    durations, maps and lists); ``""`` for an empty value."""
    default = action.default
    if isinstance(default, bool):
        return "true" if default else "false"
    if action.type is DURATION and isinstance(default, float):
        return format_duration(default)
    if isinstance(default, Mapping):
        text = ",".join(f"{key}={value}" for key, value in default.items())
    elif isinstance(default, tuple | list):
        text = ",".join(str(item) for item in default)
    else:
        text = str(default)
    return text or '""'


class FlagHelpFormatter(argparse.HelpFormatter):
    """Every flag's help ends with its default, so ``--help`` answers "what if I leave it out"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is argparse.SUPPRESS:
            return text
        # argparse %-formats help strings: a literal % in a default must be doubled.
        return f"{text} (default: {show_default(action).replace('%', '%%')})"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break inside a hyphenated value: "aws-load-\nbalancer-..." cannot be copied back.
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class FlagParser(argparse.ArgumentParser):
    """Flag errors are one line on stderr (exit 2): the usage summary of forty flags would bury
    the one thing that is wrong."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
