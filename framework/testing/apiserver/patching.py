"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge follows the patch strategies declared on the Kubernetes Go types for the fields
our clients touch: `metadata.finalizers` merges as a set, keyed lists (conditions by `type`,
ownerReferences by `uid`, containers by `name`, ...) merge element-wise, every other list is
replaced whole. The `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/` and `$setElementOrder/`
directives that kubectl emits are honoured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import ApiError, bad_request

JsonObject = dict[str, Any]


def copy_json(value: Any) -> Any:
    """Deep copy of JSON data; several times faster than copy.deepcopy on the write path."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


class PatchApplyError(Exception):
    """A patch that is well formed but cannot be applied (JSON patch `test` failure, missing path)."""


def unprocessable_patch(message: str) -> ApiError:
    """The 422 a real API server answers when a JSON patch does not apply."""
    return ApiError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": message}]},
    )


# ---------------------------------------------------------------------------------- JSON merge patch


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy_json(patch)
    result: JsonObject = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------------------------------- JSON patch


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchApplyError(f"JSON pointer must start with '/': {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _list_index(container: list[Any], token: str, path: str, *, for_insert: bool) -> int:
    if token == "-" and for_insert:
        return len(container)
    if not token.isdigit() or (token.startswith("0") and token != "0"):
        raise PatchApplyError(f"invalid array index {token!r} in {path}")
    index = int(token)
    limit = len(container) if for_insert else len(container) - 1
    if index > limit:
        raise PatchApplyError(f"array index out of bounds: {path}")
    return index


def _parent(doc: Any, tokens: list[str], path: str, op: str) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict):
            if token not in current:
                raise PatchApplyError(
                    f"{op} operation does not apply: doc is missing path: {path}: missing value"
                )
            current = current[token]
        elif isinstance(current, list):
            current = current[_list_index(current, token, path, for_insert=False)]
        else:
            raise PatchApplyError(
                f"{op} operation does not apply: doc is missing path: {path}: missing value"
            )
    return current


def _get(doc: Any, path: str, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path, op)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchApplyError(f"{op} operation does not apply: doc is missing key: {path}: missing value")
        return parent[last]
    if isinstance(parent, list):
        return parent[_list_index(parent, last, path, for_insert=False)]
    raise PatchApplyError(f"{op} operation does not apply: doc is missing path: {path}: missing value")


def _remove(doc: Any, path: str, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchApplyError(f"{op} operation does not apply: cannot remove the document root")
    parent = _parent(doc, tokens, path, op)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchApplyError(f"{op} operation does not apply: doc is missing key: {path}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_list_index(parent, last, path, for_insert=False))
    raise PatchApplyError(f"{op} operation does not apply: doc is missing path: {path}: missing value")


def _add(doc: Any, path: str, value: Any, op: str, *, replace: bool = False) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path, op)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchApplyError(
                f"replace operation does not apply: doc is missing key: {path}: missing value"
            )
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_list_index(parent, last, path, for_insert=False)] = value
        else:
            parent.insert(_list_index(parent, last, path, for_insert=True), value)
    else:
        raise PatchApplyError(f"{op} operation does not apply: doc is missing path: {path}: missing value")
    return doc


def decode_json_patch(body: Any) -> list[JsonObject]:
    if not isinstance(body, list):
        kind = "object" if isinstance(body, dict) else type(body).__name__
        raise bad_request(f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Patch")
    for operation in body:
        if not isinstance(operation, dict):
            raise bad_request("json: cannot unmarshal into Go value of type jsonpatch.Operation")
    return body


def json_patch(document: Any, operations: list[JsonObject]) -> Any:
    doc = copy_json(document)
    for operation in operations:
        op = operation.get("op")
        path = operation.get("path")
        if not isinstance(path, str):
            raise PatchApplyError(f"{op} operation does not apply: missing path")
        if op == "add":
            doc = _add(doc, path, copy_json(operation.get("value")), "add")
        elif op == "remove":
            _remove(doc, path, "remove")
        elif op == "replace":
            doc = _add(doc, path, copy_json(operation.get("value")), "replace", replace=True)
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise PatchApplyError(f"{op} operation does not apply: missing from path")
            value = _remove(doc, source, op) if op == "move" else copy_json(_get(doc, source, op))
            doc = _add(doc, path, value, op)
        elif op == "test":
            try:
                actual = _get(doc, path, "test")
            except PatchApplyError:
                actual = None
            if actual != operation.get("value"):
                raise PatchApplyError(f"testing value {path} failed: test failed")
        else:
            raise PatchApplyError(f"Unexpected kind: {op}")
    return doc


# ------------------------------------------------------------------------------ strategic merge patch

# How a list merges: "set" for primitive lists merged as sets, or the name of the merge key.
# Paths use field names only; "[]" marks "each element of the list".
_COMMON_LIST_STRATEGIES: dict[str, str] = {
    "metadata.finalizers": "set",
    "metadata.ownerReferences": "uid",
    "status.conditions": "type",
}

_POD_SPEC_STRATEGIES: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "containers[].ports": "containerPort",
    "containers[].env": "name",
    "containers[].volumeMounts": "mountPath",
    "containers[].volumeDevices": "devicePath",
    "initContainers[].ports": "containerPort",
    "initContainers[].env": "name",
    "initContainers[].volumeMounts": "mountPath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
}

_KIND_LIST_STRATEGIES: dict[str, dict[str, str]] = {
    "Pod": {
        **{f"spec.{path}": key for path, key in _POD_SPEC_STRATEGIES.items()},
        "status.podIPs": "ip",
        "status.hostIPs": "ip",
    },
    "Service": {"spec.ports": "port"},
    "Node": {"status.addresses": "type", "spec.podCIDRs": "set"},
    "ServiceAccount": {"secrets": "name"},
}


def list_strategies(kind: str) -> dict[str, str]:
    return {**_COMMON_LIST_STRATEGIES, **_KIND_LIST_STRATEGIES.get(kind, {})}


_DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ELEMENT_ORDER = "$setElementOrder/"


def strategic_merge_patch(original: JsonObject, patch: JsonObject, kind: str) -> JsonObject:
    strategies = list_strategies(kind)
    result = _merge_map(original, patch, "", strategies)
    return result if isinstance(result, dict) else {}


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge_map(original: Any, patch: Mapping[str, Any], path: str, strategies: Mapping[str, str]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy_json(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    result: JsonObject = dict(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith(_DELETE_FROM_PRIMITIVE):
            field = key[len(_DELETE_FROM_PRIMITIVE) :]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        if key.startswith(_SET_ELEMENT_ORDER):
            if isinstance(value, list):
                orders[key[len(_SET_ELEMENT_ORDER) :]] = value
            continue
        if value is None:
            result.pop(key, None)
            continue
        child_path = _child(path, key)
        if isinstance(value, dict):
            merged = _merge_map(result.get(key), value, child_path, strategies)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, child_path, strategies)
        else:
            result[key] = copy_json(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            strategy = strategies.get(_child(path, field), "")
            before = original.get(field) if isinstance(original, dict) else None
            if strategy:
                # `$setElementOrder` takes the patch list's place as the order the merged items
                # follow; the items it does not name are the server-only ones.
                same = _same_item if strategy == "set" else _same_key(strategy)
                result[field] = _order_like_server(
                    result[field], order, list(before) if isinstance(before, list) else [], same
                )
            else:
                result[field] = _apply_order(result[field], order, strategy)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(original: Any, patch: list[Any], path: str, strategies: Mapping[str, str]) -> list[Any]:
    strategy = strategies.get(path, "")
    original_items = list(original) if isinstance(original, list) else []
    current = list(original_items)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy_json(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if strategy == "set":
        merged: list[Any] = []
        for item in current + patch:
            if item not in merged:
                merged.append(copy_json(item))
        return _order_like_server(merged, patch, current, _same_item)
    if not strategy:
        return [copy_json(item) for item in patch]
    element_path = path + "[]"
    nested = {
        k[len(element_path) + 1 :]: v for k, v in strategies.items() if k.startswith(element_path + ".")
    }
    for item in patch:
        if not isinstance(item, dict) or strategy not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {strategy}")
        index = next(
            (
                i
                for i, existing in enumerate(current)
                if isinstance(existing, dict) and existing.get(strategy) == item[strategy]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                current.pop(index)
            continue
        if index is None:
            current.append({k: copy_json(v) for k, v in item.items() if k != "$patch"})
        else:
            current[index] = _merge_map(current[index], item, "", nested)
    kept = [item for item in patch if item.get("$patch") != "delete"]
    return _order_like_server(current, kept, original_items, _same_key(strategy))


def _same_item(left: Any, right: Any) -> bool:
    return bool(left == right)


def _same_key(key: str) -> Callable[[Any, Any], bool]:
    def same(left: Any, right: Any) -> bool:
        return isinstance(left, dict) and isinstance(right, dict) and left.get(key) == right.get(key)

    return same


def _position(items: list[Any], wanted: Any, same: Callable[[Any, Any], bool]) -> int:
    return next((i for i, item in enumerate(items) if same(item, wanted)), -1)


def _order_like_server(
    merged: list[Any], patch: list[Any], original: list[Any], same: Callable[[Any, Any], bool]
) -> list[Any]:
    """Order a merged list the way apimachinery's strategic merge does (`normalizeElementOrder`).

    The items the patch (or its `$setElementOrder`) names come in that order; the items only the
    server had keep their original order; the two are interleaved by inserting each server-only
    item before the first patch item that followed it in the original list. So a new item is prepended (`[b, a]` for
    `[a]` patched with `[b]`), not appended, and clients that compare lists see what a cluster gives."""
    from_patch = sorted(
        (item for item in merged if _position(patch, item, same) >= 0),
        key=lambda item: _position(patch, item, same),
    )
    server_only = [item for item in merged if _position(patch, item, same) < 0]
    result: list[Any] = []
    left = right = 0
    while left < len(server_only) or right < len(from_patch):
        if right >= len(from_patch):
            result.append(server_only[left])
            left += 1
            continue
        if left < len(server_only):
            left_at = _position(original, server_only[left], same)
            right_at = _position(original, from_patch[right], same)
            if left_at >= 0 and right_at >= 0 and left_at < right_at:
                result.append(server_only[left])
                left += 1
                continue
        result.append(from_patch[right])
        right += 1
    return result


def _apply_order(items: list[Any], order: list[Any], key: str) -> list[Any]:
    def identity(item: Any) -> Any:
        return item.get(key) if key and key != "set" and isinstance(item, dict) else item

    wanted = [identity(o) if isinstance(o, dict) else o for o in order]
    ordered = [item for want in wanted for item in items if identity(item) == want]
    rest = [item for item in items if identity(item) not in wanted]
    return ordered + rest
