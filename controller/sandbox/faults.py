"""Scripted faults for the AWS proxy: errors, dropped connections and latency, by operation and count."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class FaultKind(Enum):
    ERROR = "error"
    RESET = "reset"
    DELAY = "delay"


@dataclass
class Fault:
    """One scripted fault; ``remaining`` counts down each time it fires (``None`` = forever)."""

    kind: FaultKind
    operation: str
    remaining: int | None
    code: str = ""
    message: str = ""
    status: int = 500
    seconds: float = 0.0

    def matches(self, operation: str) -> bool:
        return (self.remaining is None or self.remaining > 0) and re.fullmatch(
            self.operation, operation
        ) is not None


class FaultPlan:
    """Faults are consumed in the order they were added; ``operation`` is a full-match regex."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def fail(
        self,
        operation: str,
        *,
        code: str = "InternalError",
        status: int = 500,
        message: str = "An internal error has occurred",
        times: int | None = 1,
    ) -> None:
        """Answer ``operation`` with an AWS error (in the service's XML format)."""
        self._faults.append(
            Fault(FaultKind.ERROR, operation, times, code=code, message=message, status=status)
        )

    def reset_connection(self, operation: str, times: int | None = 1) -> None:
        """Drop the TCP connection instead of answering."""
        self._faults.append(Fault(FaultKind.RESET, operation, times))

    def delay(self, operation: str, seconds: float, times: int | None = 1) -> None:
        """Hold the request for ``seconds`` before handling it normally."""
        self._faults.append(Fault(FaultKind.DELAY, operation, times, seconds=seconds))

    def clear(self) -> None:
        self._faults.clear()

    def take(self, operation: str) -> Fault | None:
        """The next fault for ``operation``, consuming one of its uses."""
        for fault in self._faults:
            if fault.matches(operation):
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def pending(self) -> list[Fault]:
        return [f for f in self._faults if f.remaining is None or f.remaining > 0]
