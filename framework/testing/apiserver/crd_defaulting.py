"""Structural defaulting of custom resources, and the decoding pipeline it is part of.

What apiextensions-apiserver (`pkg/apiserver/schema/defaulting`) does with the `default` values of
a CRD version's schema, on the request body (with the schema of the version the request is
written in) and on every object read from storage (with the storage version's schema; those
defaults are not written back, so they appear without a new resourceVersion):

* a property that is absent from an object that exists gets its `default` (a deep copy), and the
  walk then continues into it, so defaults nested in a default are applied too;
* the same holds in array items (`items`) and map values (`additionalProperties`);
* a default never creates its parent: `spec.a.b`'s default does nothing while `spec.a` is absent
  (unless `spec.a` has a default of its own, e.g. `{}`);
* `null` where the schema is not `nullable` is not a value: it is pruned first, or replaced by the
  default when there is one. Inside arrays a `null` without a default stays (validation then
  refuses it); a `nullable` null is kept and not defaulted.
"""

from __future__ import annotations

from typing import Any

from .crd_pruning import coerce_object_meta, prune_unknown_fields
from .crd_schema import Schema
from .patching import copy_json


def decode_custom_resource(obj: dict[str, Any], schema: Schema) -> None:
    """In place, what decoding a custom resource does before anything else sees it: prune unknown
    fields, coerce `metadata` to ObjectMeta, drop non-nullable nulls, apply defaults."""
    prune_unknown_fields(obj, schema)
    coerce_object_meta(obj)
    prune_non_nullable_nulls(obj, schema)
    apply_defaults(obj, schema)


def apply_absent_root_defaults(obj: dict[str, Any], schema: Schema) -> None:
    """Default the top-level fields `obj` lacks. For an object decoded with this same schema this
    is all that reading it back from storage adds: the write itself only removes whole top-level
    fields (a `status` the request may not set)."""
    for key, prop in schema.properties.items():
        if prop.has_default and key not in obj:
            obj[key] = copy_json(prop.default)
            apply_defaults(obj[key], prop)


def _is_non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.nullable


def prune_non_nullable_nulls(value: Any, schema: Schema | None) -> None:
    """Remove map entries that are null where the schema does not allow null and has no default
    (those with a default are left for `apply_defaults`)."""
    if schema is None:
        return  # nothing below a field the schema does not describe is pruned here
    if isinstance(value, dict):
        for key in list(value):
            child = schema.properties.get(key, schema.additional_properties)
            if _is_non_nullable_null(value[key], child) and not (child is not None and child.has_default):
                del value[key]
            else:
                prune_non_nullable_nulls(value[key], child)
    elif isinstance(value, list):
        for item in value:
            prune_non_nullable_nulls(item, schema.items)


def apply_defaults(value: Any, schema: Schema | None) -> None:
    """Fill in absent (or non-nullable null) fields from the schema's `default` values, in place."""
    if schema is None or not schema.defaults_within:
        return
    if isinstance(value, dict):
        for key, prop in schema.properties.items():
            if prop.has_default and (key not in value or _is_non_nullable_null(value[key], prop)):
                value[key] = copy_json(prop.default)
        additional = schema.additional_properties
        for key in list(value):
            prop_or_none = schema.properties.get(key)
            if prop_or_none is not None:
                apply_defaults(value[key], prop_or_none)
            elif additional is not None:
                if _is_non_nullable_null(value[key], additional):
                    value[key] = copy_json(additional.default)
                apply_defaults(value[key], additional)
    elif isinstance(value, list):
        items = schema.items
        for index, item in enumerate(value):
            if _is_non_nullable_null(item, items):
                assert items is not None
                value[index] = copy_json(items.default)
            apply_defaults(value[index], items)
