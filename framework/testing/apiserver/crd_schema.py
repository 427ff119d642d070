"""The structural schema of a CustomResourceDefinition version, parsed once when the CRD is stored.

A real kube-apiserver turns each version's `openAPIV3Schema` into a "structural" schema
(apiextensions-apiserver `pkg/apiserver/schema`) and uses it three ways on every custom resource:
pruning unknown fields, defaulting (`crd_defaulting`) and validation (`crd_validation`). This
module only models the schema; the walks over objects live in those modules.

Only the keywords those three steps read are kept. The value-validation keywords that a
structural schema allows inside `allOf`/`anyOf`/`oneOf`/`not` are parsed into the same node type,
since their branches are validated with the same rules as the node itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The formats the real server keeps (any other is dropped from the schema, so it checks nothing):
# the number formats its type and range checks read, and the string formats of apiextensions'
# supported list, spelled without dashes as go-openapi normalises them ("date-time" is "datetime").
NUMBER_FORMATS = frozenset({"int32", "int64", "float", "double"})
STRING_FORMATS = frozenset(
    {
        "bsonobjectid",
        "uri",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "cidr",
        "mac",
        "uuid",
        "uuid3",
        "uuid4",
        "uuid5",
        "isbn",
        "isbn10",
        "isbn13",
        "creditcard",
        "ssn",
        "hexcolor",
        "rgbcolor",
        "byte",
        "password",
        "date",
        "duration",
        "datetime",
    }
)


@dataclass(frozen=True)
class Schema:
    """One node of a structural schema."""

    types: tuple[str, ...] = ()  # ("integer", "string") for x-kubernetes-int-or-string
    format: str = ""
    nullable: bool = False
    # `default: null` counts as no default, as in the real server (the Go value is nil).
    default: Any = None
    properties: Mapping[str, Schema] = field(default_factory=dict)
    items: Schema | None = None
    additional_properties: Schema | None = None
    preserve_unknown_fields: bool = False
    embedded_resource: bool = False
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] = ()
    pattern: str = ""
    pattern_regex: re.Pattern[str] | None = field(default=None, compare=False)
    max_length: int | None = None
    min_length: int | None = None
    max_items: int | None = None
    min_items: int | None = None
    max_properties: int | None = None
    min_properties: int | None = None
    maximum: float | None = None
    exclusive_maximum: bool = False
    minimum: float | None = None
    exclusive_minimum: bool = False
    multiple_of: float | None = None
    all_of: tuple[Schema, ...] = ()
    any_of: tuple[Schema, ...] = ()
    one_of: tuple[Schema, ...] = ()
    not_: Schema | None = None
    list_type: str = ""
    list_map_keys: tuple[str, ...] = ()
    # Whether this node or one below it has a `default` / an `x-kubernetes-list-type` of set or
    # map: the walks that only act there skip the subtrees without (most of an object).
    defaults_within: bool = False
    list_types_within: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class VersionSchema:
    """A served version's schema, with what the whole-object checks need to know about it."""

    root: Schema
    # Whether any node carries `x-kubernetes-validations`: the real server then reports that the
    # rules were not checked when the object already fails a blocking schema check.
    has_validation_rules: bool

    @property
    def status(self) -> Schema | None:
        return self.root.properties.get("status")


def go_regexp(pattern: str) -> re.Pattern[str] | None:
    """Compile an RE2 (Go `regexp`) pattern with Python's `re`, or None if it cannot be.

    The two differ where CRD patterns can notice: Go's `\\d`, `\\w`, `\\s` are ASCII-only, and its
    `$` (without the `m` flag) matches only at the very end, where Python's also matches before a
    final newline; so `$` outside a character class becomes `\\Z`."""
    translated: list[str] = []
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            translated.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            # A `]` right after `[` or `[^` is a literal member, not the end of the class.
            start = index + 1
            if start < len(pattern) and pattern[start] == "^":
                start += 1
            if start < len(pattern) and pattern[start] == "]":
                translated.append(pattern[index : start + 1])
                index = start + 1
                continue
        elif char == "$":
            translated.append(r"\Z")
            index += 1
            continue
        translated.append(char)
        index += 1
    try:
        return re.compile("".join(translated), re.ASCII)
    except re.error:
        return None


def _kept_format(name: str) -> bool:
    return name in NUMBER_FORMATS or name.replace("-", "") in STRING_FORMATS


def _int(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _number(raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _branches(raw: Mapping[str, Any], key: str) -> tuple[Schema, ...]:
    return tuple(parse_schema(branch) for branch in raw.get(key) or () if isinstance(branch, Mapping))


def parse_schema(raw: Mapping[str, Any]) -> Schema:
    """The node for one (already validated) JSONSchemaProps."""
    if raw.get("x-kubernetes-int-or-string"):
        types: tuple[str, ...] = ("integer", "string")
    elif raw.get("type"):
        types = (str(raw["type"]),)
    else:
        types = ()
    items_raw = raw.get("items")
    additional_raw = raw.get("additionalProperties")
    not_schema = raw.get("not")
    pattern = str(raw.get("pattern") or "")
    raw_format = str(raw.get("format") or "")
    properties = {str(k): parse_schema(v) for k, v in (raw.get("properties") or {}).items()}
    items = parse_schema(items_raw) if isinstance(items_raw, Mapping) else None
    # `additionalProperties: true` with no schema is the same as leaving it out.
    additional = parse_schema(additional_raw) if isinstance(additional_raw, Mapping) else None
    children = [*properties.values(), *(c for c in (items, additional) if c is not None)]
    list_type = str(raw.get("x-kubernetes-list-type") or "")
    return Schema(
        types=types,
        format=raw_format if _kept_format(raw_format) else "",
        nullable=bool(raw.get("nullable")),
        default=raw.get("default"),
        properties=properties,
        items=items,
        additional_properties=additional,
        preserve_unknown_fields=bool(raw.get("x-kubernetes-preserve-unknown-fields")),
        embedded_resource=bool(raw.get("x-kubernetes-embedded-resource")),
        required=tuple(str(name) for name in raw.get("required") or ()),
        enum=tuple(raw.get("enum") or ()),
        pattern=pattern,
        pattern_regex=go_regexp(pattern) if pattern else None,
        max_length=_int(raw, "maxLength"),
        min_length=_int(raw, "minLength"),
        max_items=_int(raw, "maxItems"),
        min_items=_int(raw, "minItems"),
        max_properties=_int(raw, "maxProperties"),
        min_properties=_int(raw, "minProperties"),
        maximum=_number(raw, "maximum"),
        exclusive_maximum=bool(raw.get("exclusiveMaximum")),
        minimum=_number(raw, "minimum"),
        exclusive_minimum=bool(raw.get("exclusiveMinimum")),
        multiple_of=_number(raw, "multipleOf"),
        all_of=_branches(raw, "allOf"),
        any_of=_branches(raw, "anyOf"),
        one_of=_branches(raw, "oneOf"),
        not_=parse_schema(not_schema) if isinstance(not_schema, Mapping) else None,
        list_type=list_type,
        list_map_keys=tuple(str(key) for key in raw.get("x-kubernetes-list-map-keys") or ()),
        defaults_within=raw.get("default") is not None or any(c.defaults_within for c in children),
        list_types_within=list_type in ("set", "map") or any(c.list_types_within for c in children),
    )


def _has_validation_rules(raw: Any) -> bool:
    if isinstance(raw, Mapping):
        if raw.get("x-kubernetes-validations"):
            return True
        return any(_has_validation_rules(value) for value in raw.values())
    if isinstance(raw, list):
        return any(_has_validation_rules(value) for value in raw)
    return False


def version_schemas(crd: Mapping[str, Any]) -> dict[str, VersionSchema]:
    """Each version's parsed schema, by version name (versions without one are left out)."""
    schemas: dict[str, VersionSchema] = {}
    for version in crd["spec"].get("versions") or ():
        raw = (version.get("schema") or {}).get("openAPIV3Schema")
        if isinstance(raw, Mapping):
            schemas[str(version["name"])] = VersionSchema(parse_schema(raw), _has_validation_rules(raw))
    return schemas


def storage_version(crd: Mapping[str, Any]) -> str:
    for version in crd["spec"].get("versions") or ():
        if version.get("storage"):
            return str(version["name"])
    return ""
