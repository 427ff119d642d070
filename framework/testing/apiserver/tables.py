"""Server-side `Table` output: what `kubectl get` prints.

kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns the
server sends. kube-apiserver has a printer per built-in type (pkg/printers), the apiextensions
server one for CustomResourceDefinitions, and custom resources get NAME, the CRD's
`additionalPrinterColumns` (evaluated by their jsonPath) or AGE. The printers here produce the
same columns and cells, always in the wide form (every column, priority 1 included, as the real
server sends them; kubectl hides priority-1 columns unless `-o wide`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from . import errors
from .registry import Target
from .resources import ResourceType
from .store import Entry
from .table_cells import JsonObject, Printer, meta_of
from .table_custom import custom_resource_printer
from .table_printers import BUILTIN_PRINTERS

TABLE_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")
INCLUDE_OBJECT = ("None", "Metadata", "Object")


# -------------------------------------------------------------------------------- negotiation


@dataclass(frozen=True)
class TableOptions:
    api_version: str  # meta.k8s.io/v1 or meta.k8s.io/v1beta1, as the client asked
    include_object: str  # what each row's `object` holds: "Metadata", "Object" or "None"
    no_headers: bool  # leave out columnDefinitions (watch events after the first)


def _accept_clauses(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The media ranges of an Accept header, highest q first (stable, as Go's goautoneg sorts)."""
    clauses: list[tuple[float, int, str, dict[str, str]]] = []
    for index, raw in enumerate(accept.split(",")):
        parts = [p.strip() for p in raw.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        quality = 1.0
        for part in parts[1:]:
            key, _, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
            elif key:
                params[key] = value
        clauses.append((-quality, index, media, params))
    clauses.sort(key=lambda clause: (clause[0], clause[1]))
    return [(media, params) for _, _, media, params in clauses]


def negotiate_table(accept: str) -> str | None:
    """The Table apiVersion the Accept header asks for, or None when the first media range the
    stand-in can serve is the plain object. Ranges asking for a conversion the stand-in does not
    make (PartialObjectMetadata, other groups) or another encoding (protobuf, CBOR) are skipped,
    as kube-apiserver skips the ranges it cannot serve."""
    for media, params in _accept_clauses(accept):
        if media not in ("application/json", "application/*", "*/*"):
            continue
        converting = {"as", "g", "v"} & params.keys()
        if not converting:
            return None
        if (
            params.get("as") == "Table"
            and params.get("g") == TABLE_GROUP
            and params.get("v") in TABLE_VERSIONS
        ):
            return f"{TABLE_GROUP}/{params['v']}"
    return None


def table_options(api_version: str, query: Mapping[str, str]) -> TableOptions:
    """The Table options of a GET or LIST. Only `includeObject` is a query parameter: leaving out
    the column definitions is the server's own choice for watch events after the first."""
    include = query.get("includeObject", "")
    if include and include not in INCLUDE_OBJECT:
        raise errors.bad_request(
            f'Unable to convert to Table as requested: includeObject: Invalid value: "{include}": '
            "must be 'Metadata', 'Object', 'None', or empty"
        )
    return TableOptions(api_version, include or "Metadata", no_headers=False)


# ------------------------------------------------------------------------------------- tables


def printer_for(resource: ResourceType, version: str) -> Printer:
    builtin = BUILTIN_PRINTERS.get(resource.key)
    if builtin is not None:
        return builtin
    return custom_resource_printer(resource.printer_columns.get(version, ()))


@dataclass(frozen=True)
class TableRowSource:
    """One object of the table: the stored form the printer reads and the served form the row's
    `object` shows (they differ for events.k8s.io Events, which are core Events inside)."""

    stored: Mapping[str, Any]
    served: Mapping[str, Any]


def build_table(
    printer: Printer,
    sources: Sequence[TableRowSource],
    metadata: Mapping[str, Any],
    options: TableOptions,
    now: datetime,
) -> JsonObject:
    rows: list[Any] = []
    for source in sources:
        row: JsonObject = {"cells": printer.cells(source.stored, now)}
        conditions = printer.conditions(source.stored) if printer.conditions else []
        if conditions:
            row["conditions"] = conditions
        row["object"] = _row_object(source.served, options)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": options.api_version,
        "metadata": dict(metadata),
        "columnDefinitions": None
        if options.no_headers
        else [column.definition() for column in printer.columns],
        "rows": None if not rows and printer.null_when_empty else rows,
    }


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class TableStream:
    """A watch's objects as Tables (`kubectl get -w`): one single-row Table per event, bookmarks
    included. Only the first carries the column definitions, as the real watch encoder does."""

    def __init__(
        self,
        printer: Printer,
        options: TableOptions,
        view: Callable[[Entry, Target], Mapping[str, Any]],
        clock: Callable[[], datetime],
    ) -> None:
        self._printer = printer
        self._options = options
        self._view = view
        self._clock = clock

    def _table(self, source: TableRowSource) -> bytes:
        metadata = {"resourceVersion": meta_of(source.stored).get("resourceVersion", "")}
        table = build_table(self._printer, [source], metadata, self._options, self._clock())
        if not self._options.no_headers:
            self._options = replace(self._options, no_headers=True)
        return _dumps(table)

    def object(self, entry: Entry, target: Target) -> bytes:
        return self._table(TableRowSource(entry.obj, self._view(entry, target)))

    def bookmark(self, target: Target, metadata: dict[str, Any]) -> bytes:
        obj = {"kind": target.resource.kind, "apiVersion": target.api_version, "metadata": metadata}
        return self._table(TableRowSource(obj, obj))


def _row_object(served: Mapping[str, Any], options: TableOptions) -> JsonObject | None:
    if options.include_object == "None":
        return None
    if options.include_object == "Object":
        return dict(served)
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": options.api_version,
        "metadata": served["metadata"],
    }
