"""Pruning of custom resources: fields their CRD's structural schema does not specify are dropped.

This is apiextensions-apiserver's `pkg/apiserver/schema/pruning` as the real server runs it while
decoding a request body and while reading from storage: an unknown field disappears silently
(`fieldValidation=Strict`, which would refuse it instead, is not emulated). A node marked
`x-kubernetes-preserve-unknown-fields: true` keeps unknown fields, but the fields it does specify
are still pruned below it. The root of the object, and any node marked
`x-kubernetes-embedded-resource`, keep `apiVersion`, `kind` and `metadata` whatever the schema says.

`metadata` itself is not pruned by the schema: the real server decodes it into `ObjectMeta`, which
drops what that type does not have (`coerce_object_meta`). The `metadata` of embedded resources
is left as it is (the real server coerces it too; the CRDs this project serves have none).
"""

from __future__ import annotations

from typing import Any

from .crd_schema import Schema

_TYPE_AND_OBJECT_META = frozenset({"apiVersion", "kind", "metadata"})

# The fields of metav1.ObjectMeta (JSON names).
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def prune_unknown_fields(obj: dict[str, Any], schema: Schema) -> None:
    """Drop, in place, every field of the custom resource `obj` that `schema` (its root) does not
    specify; the root is handled as an embedded resource."""
    _prune(obj, schema, embedded=True)


def coerce_object_meta(obj: dict[str, Any]) -> None:
    """Drop the `metadata` fields ObjectMeta does not have, as decoding into it does."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in [k for k in meta if k not in OBJECT_META_FIELDS]:
            del meta[key]


def _prune(value: Any, schema: Schema | None, *, embedded: bool) -> None:
    if schema is not None and schema.preserve_unknown_fields:
        _prune_below(value, schema, embedded=embedded)
        return
    if isinstance(value, dict):
        if schema is None:
            value.clear()
            return
        for key in list(value):
            if embedded and key in _TYPE_AND_OBJECT_META:
                continue
            child = schema.properties.get(key, schema.additional_properties)
            if child is None:
                del value[key]
            else:
                _prune(value[key], child, embedded=child.embedded_resource)
    elif isinstance(value, list):
        items = schema.items if schema is not None else None
        for item in value:
            _prune(item, items, embedded=items is not None and items.embedded_resource)


def _prune_below(value: Any, schema: Schema | None, *, embedded: bool) -> None:
    """Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, known ones are pruned."""
    if schema is None:
        return
    if isinstance(value, dict):
        for key, child_value in value.items():
            if embedded and key in _TYPE_AND_OBJECT_META:
                continue
            child = schema.properties.get(key, schema.additional_properties)
            if child is not None:
                _prune(child_value, child, embedded=child.embedded_resource)
    elif isinstance(value, list):
        items = schema.items
        for item in value:
            _prune_below(item, items, embedded=items is not None and items.embedded_resource)
