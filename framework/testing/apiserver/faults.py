"""Test hooks: injected errors and latency on chosen requests, and a log of every request served.

Both are guarded by a lock because a threaded server is driven from the test's thread."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

_DEFAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class RequestInfo:
    """What a request addresses, in Kubernetes terms (`verb` is get/list/watch/create/update/patch/
    delete/deletecollection, or the HTTP method for non-resource paths)."""

    method: str
    path: str
    query: str
    verb: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class RequestRecord:
    info: RequestInfo
    status: int  # 0 while the request is still being served
    content_type: str
    user_agent: str
    duration_seconds: float


@dataclass(frozen=True)
class FaultRule:
    """Match requests (every given criterion must hold) and answer them with an error and/or delay.

    `status=None` only delays; `times=None` keeps the rule forever; `drop_connection` closes the
    connection without an answer."""

    verb: str | None = None
    resource: str | None = None  # plural, or "plural/subresource"
    name: str | None = None
    namespace: str | None = None
    group: str | None = None
    status: int | None = 500
    reason: str | None = None
    message: str = "injected fault"
    delay_seconds: float = 0.0
    times: int | None = 1
    retry_after_seconds: int | None = None
    drop_connection: bool = False

    def matches(self, info: RequestInfo) -> bool:
        resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        return (
            (self.verb is None or self.verb == info.verb)
            and (self.resource is None or self.resource == resource)
            and (self.name is None or self.name == info.name)
            and (self.namespace is None or self.namespace == info.namespace)
            and (self.group is None or self.group == info.group)
        )

    @property
    def status_reason(self) -> str:
        if self.reason is not None:
            return self.reason
        return _DEFAULT_REASONS.get(self.status or 500, "Unknown")


@dataclass
class _ActiveRule:
    rule: FaultRule
    remaining: int | None
    hits: int = 0


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_ActiveRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(_ActiveRule(rule, rule.times))
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def hits(self, rule: FaultRule) -> int:
        with self._lock:
            return sum(active.hits for active in self._rules if active.rule is rule)

    def take(self, info: RequestInfo) -> FaultRule | None:
        """The first live rule matching `info`, consuming one of its uses."""
        with self._lock:
            for active in self._rules:
                if active.remaining == 0 or not active.rule.matches(info):
                    continue
                active.hits += 1
                if active.remaining is not None:
                    active.remaining -= 1
                return active.rule
        return None


@dataclass
class _Slot:
    info: RequestInfo
    content_type: str
    user_agent: str
    started: float
    status: int = 0
    duration_seconds: float = 0.0

    def snapshot(self) -> RequestRecord:
        return RequestRecord(
            self.info, self.status, self.content_type, self.user_agent, self.duration_seconds
        )


class RequestLog:
    """Every request in arrival order. A request still being served (an open watch) is listed with
    status 0 until it finishes."""

    def __init__(self, max_records: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._slots: deque[_Slot] = deque(maxlen=max_records)

    def start(self, info: RequestInfo, content_type: str, user_agent: str) -> _Slot:
        slot = _Slot(info, content_type, user_agent, time.monotonic())
        with self._lock:
            self._slots.append(slot)
        return slot

    def finish(self, slot: _Slot, status: int) -> None:
        with self._lock:
            slot.status = status
            slot.duration_seconds = time.monotonic() - slot.started

    def records(
        self, *, verb: str | None = None, resource: str | None = None, name: str | None = None
    ) -> list[RequestRecord]:
        with self._lock:
            return [
                slot.snapshot()
                for slot in self._slots
                if (verb is None or slot.info.verb == verb)
                and (resource is None or slot.info.resource == resource)
                and (name is None or slot.info.name == name)
            ]

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()
