"""LIST: resourceVersion semantics, limit/continue paging at a consistent version, selectors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass

from . import errors
from .registry import ObjectRegistry, Target
from .selectors import FieldSelector, LabelSelector
from .store import Entry, HistoryExpired, ObjectKey

CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
    "the results. Continuing with the provided token results in an inconsistent list - objects that were "
    "created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


@dataclass(frozen=True)
class ListRequest:
    target: Target
    labels: LabelSelector
    fields: FieldSelector
    resource_version: str
    resource_version_match: str
    limit: int
    continue_token: str


def parse_resource_version(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(
            f'resourceVersion: Invalid value: "{value}": invalid resource version'
        ) from None
    if number < 0:
        raise errors.bad_request(f'resourceVersion: Invalid value: "{value}": invalid resource version')
    return number


def encode_continue(rv: int, last: ObjectKey) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(last)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str) -> tuple[int, ObjectKey]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
        rv = int(data["rv"])
        namespace, name = data["start"]
        return rv, (str(namespace), str(name))
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise errors.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        ) from None


def _select(request: ListRequest, entries: Iterator[Entry]) -> Iterator[Entry]:
    labels, fields = request.labels, request.fields
    for entry in entries:
        if not labels.empty and not labels.matches(entry.obj["metadata"].get("labels")):
            continue
        if not fields.empty and not fields.matches(entry.obj):
            continue
        yield entry


@dataclass(frozen=True)
class ListPage:
    """The entries of one LIST response and its list metadata (resourceVersion, continue, ...)."""

    entries: list[Entry]
    metadata: dict[str, object]


def list_objects(registry: ObjectRegistry, request: ListRequest) -> bytes:
    page = list_page(registry, request)
    target = request.target
    if target.resource.builtin:
        items = b",".join(registry.render_list_item(entry, target) for entry in page.entries)
    else:
        items = b",".join(registry.render(entry, target) for entry in page.entries)
    head = json.dumps(
        {"kind": target.resource.list_kind, "apiVersion": target.api_version, "metadata": page.metadata},
        separators=(",", ":"),
    ).encode()
    return head[:-1] + b',"items":[' + items + b"]}"


def list_page(registry: ObjectRegistry, request: ListRequest) -> ListPage:
    store = registry.store
    target = request.target
    resource_key = target.resource.storage_key
    namespace = target.namespace or None
    after: ObjectKey | None = None
    if request.continue_token:
        if request.resource_version not in ("",):
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        list_rv, after = decode_continue(request.continue_token)
        try:
            entries = store.iterate_at(resource_key, list_rv, namespace, after)
            selected = _select(request, entries)
            first = list(_take(selected, request.limit))
        except HistoryExpired:
            raise errors.expired(CONTINUE_TOO_OLD) from None
    elif request.resource_version_match == "Exact":
        list_rv = parse_resource_version(request.resource_version)
        if list_rv > store.current_rv:
            raise errors.timeout(f"Too large resource version: {list_rv}, current: {store.current_rv}")
        try:
            selected = _select(request, store.iterate_at(resource_key, list_rv, namespace))
            first = list(_take(selected, request.limit))
        except HistoryExpired as exc:
            raise errors.expired(str(exc)) from None
    else:
        if request.resource_version_match not in ("", "NotOlderThan"):
            raise errors.bad_request(
                f'resourceVersionMatch: Unsupported value: "{request.resource_version_match}": supported values: '
                '"Exact", "NotOlderThan", ""'
            )
        if request.resource_version not in ("", "0"):
            wanted = parse_resource_version(request.resource_version)
            if wanted > store.current_rv:
                raise errors.timeout(f"Too large resource version: {wanted}, current: {store.current_rv}")
        list_rv = store.current_rv
        selected = _select(request, store.iterate(resource_key, namespace))
        first = list(_take(selected, request.limit))
    metadata: dict[str, object] = {"resourceVersion": str(list_rv)}
    if request.limit and len(first) > request.limit:
        page = first[: request.limit]
        last = page[-1]
        metadata["continue"] = encode_continue(list_rv, (last.namespace, last.name))
        if request.labels.empty and request.fields.empty:
            metadata["remainingItemCount"] = 1 + sum(1 for _ in selected)
    else:
        page = first
    return ListPage(page, metadata)


def _take(entries: Iterator[Entry], limit: int) -> Iterator[Entry]:
    """Up to limit+1 entries (the extra one tells whether a continue token is needed)."""
    if not limit:
        yield from entries
        return
    for count, entry in enumerate(entries):
        yield entry
        if count >= limit:
            return
