"""What the Table printers share: column and printer definitions, and the cell formatting
kube-apiserver's printers use (ages as `HumanDuration`, label sets, "+ N more..." lists)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .table_docs import FIELD_DOCS

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    format: str = ""
    priority: int = 0

    def definition(self) -> JsonObject:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


CellsFunction = Callable[[Mapping[str, Any], datetime], list[Any]]


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    cells: CellsFunction
    # Row conditions (only pods have them: a completed pod's row says so).
    conditions: Callable[[Mapping[str, Any]], list[JsonObject]] | None = None
    # An empty list's `rows`: `[]` from most printers, `null` from the CRD printer.
    null_when_empty: bool = False


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (metav1.Time or MicroTime); None when unset or unreadable."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def human_duration(seconds_total: float) -> str:
    """apimachinery's HumanDuration: about two or three significant figures ("5s", "3m20s", "4h")."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def since(value: Any, now: datetime) -> str:
    """How long ago a timestamp was ("<unknown>" when unset), as the printers' AGE columns say it."""
    moment = parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = obj.get("spec") or {}
    return spec


def status_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status: Mapping[str, Any] = obj.get("status") or {}
    return status


def age_of(obj: Mapping[str, Any], now: datetime) -> str:
    return since(meta_of(obj).get("creationTimestamp"), now)


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """k8s.io/apimachinery labels.FormatLabels: sorted key=value pairs, "<none>" when empty."""
    pairs = labels or {}
    return ",".join(f"{key}={pairs[key]}" for key in sorted(pairs)) or "<none>"


def with_more(listed: list[str], count: int, limit: int = 3) -> str:
    text = ",".join(listed)
    return f"{text} + {count - limit} more..." if count > limit else text


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta_of(obj).get("name", ""))


META_NAME = Column("Name", "string", FIELD_DOCS["ObjectMeta.name"], "name")
META_AGE = Column("Age", "string", FIELD_DOCS["ObjectMeta.creationTimestamp"])
