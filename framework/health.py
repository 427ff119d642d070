"""Liveness and readiness probes with controller-runtime's ``pkg/healthz`` behaviour.

A ``HealthChecks`` set holds named checks. A check is an ``async`` callable that returns on
success and raises on failure (the exception text is the reason). Served over HTTP (see
``framework.httpserver``) each set answers:

* ``GET /<kind>``: every check; 200 ``ok``, or 500 with the verbose listing if any check fails.
  ``?verbose`` lists every check as ``[+]name ok`` / ``[-]name failed: reason withheld``;
  ``?exclude=<name>`` (repeatable) skips a check (listed as ``[+]name excluded: ok``).
  The aggregate withholds failure reasons because probe endpoints are usually unauthenticated;
  an empty set reports the built-in ``ping`` check.
* ``GET /<kind>/<name>``: that check alone; 200 ``ok`` or 500 ``internal server error: <reason>``;
  404 for an unknown name.

Checks run concurrently, each bounded by ``check_timeout`` on the injected clock, so one hung
dependency cannot hang the probe past the kubelet's own timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from aiohttp import web

from framework.clock import REAL_CLOCK, Clock, timeout_after

__all__ = ["CheckOutcome", "HealthCheck", "HealthChecks", "ping"]

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[None]]
"""Returns when healthy; raises (any ``Exception``) with the reason when not."""

_HEADERS = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}


async def ping() -> None:
    """The check that always passes: the process is up and its event loop answers."""
    return None


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    healthy: bool
    excluded: bool = False
    reason: str = ""


class HealthChecks:
    """A named set of checks of one kind (``healthz`` or ``readyz``), plus its HTTP handlers."""

    def __init__(self, kind: str, *, check_timeout: float = 10.0, clock: Clock | None = None) -> None:
        if not kind or "/" in kind:
            raise ValueError(f"invalid probe kind {kind!r}")
        if check_timeout <= 0:
            raise ValueError(f"check_timeout must be > 0, got {check_timeout}")
        self._kind = kind
        self._check_timeout = check_timeout
        self._clock = clock if clock is not None else REAL_CLOCK
        self._checks: dict[str, HealthCheck] = {}

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def names(self) -> list[str]:
        return sorted(self._checks)

    def add(self, name: str, check: HealthCheck) -> None:
        """Register ``check`` as ``name`` (served at ``/<kind>/<name>``); names are unique."""
        if not name or "/" in name:
            raise ValueError(f"invalid check name {name!r}")
        if name in self._checks:
            raise ValueError(f"{self._kind} check {name!r} is already registered")
        self._checks[name] = check

    async def run_check(self, name: str) -> CheckOutcome:
        """Run one check with the timeout; an unknown name raises ``KeyError``."""
        check = self._lookup(name)
        if check is None:
            raise KeyError(name)
        try:
            async with timeout_after(self._clock, self._check_timeout):
                await check()
        except TimeoutError:
            return CheckOutcome(name, healthy=False, reason=f"timed out after {self._check_timeout:g}s")
        except Exception as error:
            return CheckOutcome(name, healthy=False, reason=f"{type(error).__name__}: {error}")
        return CheckOutcome(name, healthy=True)

    async def run(self, exclude: Collection[str] = ()) -> list[CheckOutcome]:
        """Run every check not in ``exclude`` concurrently; outcomes sorted by name."""
        if not self._checks:
            return [CheckOutcome("ping", healthy=True)]
        excluded = set(exclude)
        unknown = excluded - self._checks.keys()
        if unknown:
            logger.debug("cannot exclude %s check(s) %s: no such check", self._kind, sorted(unknown))
        names = [name for name in sorted(self._checks) if name not in excluded]
        outcomes = await asyncio.gather(*(self.run_check(name) for name in names))
        for outcome in outcomes:
            if not outcome.healthy:
                logger.info("%s check failed: checker=%s error=%s", self._kind, outcome.name, outcome.reason)
        skipped = [CheckOutcome(name, healthy=True, excluded=True) for name in excluded & self._checks.keys()]
        return sorted([*outcomes, *skipped], key=lambda outcome: outcome.name)

    def _lookup(self, name: str) -> HealthCheck | None:
        if name in self._checks:
            return self._checks[name]
        if name == "ping" and not self._checks:
            return ping  # the implicit check of an empty set
        return None

    # HTTP handlers (aiohttp); ``framework.httpserver`` mounts them at /<kind> and /<kind>/{name}.
    async def handle_all(self, request: web.Request) -> web.Response:
        outcomes = await self.run(exclude=request.query.getall("exclude", []))
        healthy = all(outcome.healthy for outcome in outcomes)
        verbose = "verbose" in request.query or not healthy  # always verbose on failure, as upstream
        if not verbose:
            return web.Response(status=200, text="ok", headers=_HEADERS)
        lines = []
        for outcome in outcomes:
            if outcome.excluded:
                lines.append(f"[+]{outcome.name} excluded: ok")
            elif outcome.healthy:
                lines.append(f"[+]{outcome.name} ok")
            else:
                lines.append(f"[-]{outcome.name} failed: reason withheld")
        lines.append(f"{self._kind} check {'passed' if healthy else 'failed'}")
        return web.Response(status=200 if healthy else 500, text="\n".join(lines) + "\n", headers=_HEADERS)

    async def handle_one(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self._lookup(name) is None:
            return web.Response(status=404, text=f"{self._kind} check {name!r} not found\n", headers=_HEADERS)
        outcome = await self.run_check(name)
        if outcome.healthy:
            return web.Response(status=200, text="ok", headers=_HEADERS)
        return web.Response(status=500, text=f"internal server error: {outcome.reason}\n", headers=_HEADERS)

    def install(self, app: web.Application) -> None:
        """Serve this set at ``/<kind>`` and ``/<kind>/<name>`` on ``app``."""
        app.router.add_get(f"/{self._kind}", self.handle_all)
        app.router.add_get(f"/{self._kind}/", self.handle_all)
        app.router.add_get(f"/{self._kind}/{{name}}", self.handle_one)
