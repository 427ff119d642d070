"""Custom resources' Table columns: NAME, then the CRD version's `additionalPrinterColumns` (AGE
when it has none), each evaluated by its jsonPath the way the apiextensions server does."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .resources import PrinterColumn
from .table_cells import META_NAME, CellsFunction, Column, Printer, human_duration, name_of, parse_time


def _go_text(value: Any) -> str:
    """What client-go's jsonpath printer writes for a value (a string column's cell): objects and
    lists as compact JSON with sorted keys (Go's encoder, HTML characters escaped), scalars as Go's
    fmt prints them."""
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


def _typed_cell(column_type: str, value: Any, now: datetime) -> Any:
    """A non-string column's cell: the value if it has the column's type, else null."""
    if column_type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if column_type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        moment = parse_time(value)
        return "<invalid>" if moment is None else human_duration((now - moment).total_seconds())
    return None


def _custom_cells(columns: Sequence[PrinterColumn]) -> CellsFunction:
    paths = [JsonPath.parse(column.json_path) for column in columns]

    def cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
        row: list[Any] = [name_of(obj)]
        for column, path in zip(columns, paths, strict=True):
            found = path.first(obj) if path is not None else MISSING
            if found is MISSING or found is None:
                row.append(None)
            elif column.type == "string":
                row.append(_go_text(found))
            else:
                row.append(_typed_cell(column.type, found, now))
        return row

    return cells


def custom_resource_printer(columns: Sequence[PrinterColumn]) -> Printer:
    definitions = [META_NAME] + [
        Column(
            column.name,
            column.type,
            column.description
            or f"Custom resource definition column (in JSONPath format): {column.json_path}",
            column.format,
            column.priority,
        )
        for column in columns
    ]
    return Printer(tuple(definitions), _custom_cells(columns))


# ---------------------------------------------------------------------------------- jsonPath

# What a path that finds nothing yields (distinct from a JSON null it may find).
MISSING = object()
_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[(?P<quote>['"])(?P<key>(?:\\.|(?!(?P=quote)).)*)(?P=quote)\]"""
    r"""|\[\*\]|\.\*"""
    r"""|\[\?\(@(?P<filter>(?:\.[A-Za-z0-9_\-]+)+)\s*(?P<op>==|!=)\s*(?P<literal>'[^']*'|"[^"]*"|-?[\d.]+|true|false)\)\]"""
)


@dataclass(frozen=True)
class JsonPath:
    """The simple JSONPath subset printer columns use: `.a.b`, `[0]`, `['key']`, `[*]` and
    `[?(@.field=="value")]`. Missing keys yield nothing (the cell is then null)."""

    steps: tuple[tuple[str, Any], ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath | None:
        text = text.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        steps: list[tuple[str, Any]] = []
        position = 0
        while position < len(text):
            match = _STEP.match(text, position)
            if match is None:
                return None
            position = match.end()
            if match.group("field") is not None:
                steps.append(("field", match.group("field")))
            elif match.group("index") is not None:
                steps.append(("index", int(match.group("index"))))
            elif match.group("key") is not None:
                steps.append(("field", re.sub(r"\\(.)", r"\1", match.group("key"))))
            elif match.group("filter") is not None:
                literal = match.group("literal")
                value = literal[1:-1] if literal[0] in "'\"" else json.loads(literal)
                fields = tuple(match.group("filter").split(".")[1:])
                steps.append(("filter", (fields, match.group("op"), value)))
            else:
                steps.append(("all", None))
        return cls(tuple(steps))

    def first(self, obj: Any) -> Any:
        values = [obj]
        for kind, argument in self.steps:
            values = [child for value in values for child in _step(value, kind, argument)]
        return values[0] if values else MISSING


def _step(value: Any, kind: str, argument: Any) -> list[Any]:
    if kind == "field":
        return [value[argument]] if isinstance(value, dict) and argument in value else []
    if kind == "index":
        if isinstance(value, list) and -len(value) <= argument < len(value):
            return [value[argument]]
        return []
    if kind == "all":
        if isinstance(value, list):
            return list(value)
        return list(value.values()) if isinstance(value, dict) else []
    fields, op, expected = argument
    matched = []
    for item in value if isinstance(value, list) else ():
        current: Any = item
        for name in fields:
            current = current.get(name, MISSING) if isinstance(current, dict) else MISSING
        if current is not MISSING and ((current == expected) == (op == "==")):
            matched.append(item)
    return matched
