"""Validation of custom resources against their CRD version's OpenAPI schema, with the 422 causes a
real kube-apiserver reports.

The real server runs kube-openapi's schema validator and turns its findings into field errors
(apiextensions-apiserver `pkg/apiserver/validation`); this module follows both, so the reasons,
field paths and messages are the real ones:

* `type` (and `x-kubernetes-int-or-string`), `nullable`, the number formats' ranges →
  `FieldValueTypeInvalid` "… in body must be of type integer: "string""; an out-of-range or
  fractional number → "Checked value must be of type integer …" on the whole object (`<nil>`);
* `enum` → `FieldValueNotSupported`; `required` → `FieldValueRequired`;
* `maxLength` → `FieldValueTooLong`; `maxItems`/`maxProperties` → `FieldValueTooMany`;
* `minLength`, `pattern`, `minItems`, `minProperties`, `minimum`, `maximum`, `multipleOf` →
  `FieldValueInvalid` with kube-openapi's message;
* string formats `date-time`, `date`, `ipv4`, `ipv6`, `cidr`, `uuid`/`uuid3`/`uuid4`/`uuid5`
  (any other supported format is accepted unchecked);
* `allOf`/`anyOf`/`oneOf`/`not`, with the real "must validate …" messages;
* `x-kubernetes-list-type: set|map` uniqueness → `FieldValueDuplicate` (apiextensions'
  `listtype`), not re-reported on an update whose old object already broke it.

The order of the causes differs from the real server's, which is itself random (Go map order).

Known gaps:

* CEL rules (`x-kubernetes-validations`) are not evaluated. When a version has any, the real
  server skips them once a blocking error (type, required, enum, too long, too many) was found
  and says so in one more cause; that cause is reproduced, so such a 422 matches exactly, but an
  object that only a CEL rule would refuse is accepted here.
* Validation ratcheting (an update may keep an invalid value it does not change) is not applied to
  schema errors; it only matters when a CRD's schema is tightened under existing objects.
* Where kube-openapi picks the `anyOf`/`oneOf` branch with the most successful checks to report,
  the first failing branch is reported (the same branch for the schemas this project serves).
* The apiVersion/kind/metadata of `x-kubernetes-embedded-resource` nodes are not validated.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .crd_schema import Schema, VersionSchema, go_regexp
from .errors import FieldError, go_float

# Field error reasons that make the real server skip the CEL rules (apiextensions' hasBlockingErr).
_BLOCKING = frozenset(
    {
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    }
)
RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors "
    "to complete validation"
)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = 3.4028234663852886e38


def validate_custom_resource(
    schema: VersionSchema,
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    *,
    status_only: bool,
    prior: Sequence[FieldError] = (),
) -> list[FieldError]:
    """The schema's errors for `obj` (its status alone on a status write), then the list-type
    errors, then the "rules not checked" cause when it applies; `prior` are the errors already
    found (metadata), which count as blocking too."""
    if status_only:
        status_schema = schema.status
        errors = (
            _Validator("status").validate(obj["status"], status_schema, "")
            if status_schema is not None and "status" in obj
            else []
        )
    else:
        errors = _Validator("").validate(obj, schema.root, "")
    list_errors = list_type_errors(obj, schema.root)
    if list_errors and (old is None or not list_type_errors(old, schema.root)):
        errors.extend(list_errors)
    if schema.has_validation_rules and any(e.reason in _BLOCKING for e in [*prior, *errors]):
        errors.append(FieldError.invalid("<nil>", None, RULES_NOT_CHECKED))
    return errors


# ------------------------------------------------------------------------------------- schema checks


def _kind(value: Any) -> tuple[str, str]:
    """kube-openapi's JSON type and format for a decoded value (Go decodes integers as int64)."""
    if isinstance(value, bool):
        return "boolean", ""
    if isinstance(value, int):
        return "integer", "int64"
    if isinstance(value, float):
        return "number", "float64"
    if isinstance(value, str):
        return "string", ""
    if isinstance(value, list):
        return "array", ""
    return "object", ""


_FAST_KINDS: Mapping[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    dict: "object",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _quote(value: str) -> str:
    """Go's %q for the strings these messages quote."""
    return json.dumps(value, ensure_ascii=False)


class _Validator:
    """One walk over a value. `root` is the field path the walk starts at ("" for the whole object,
    "status" for a status write): errors carrying a schema path are reported under it, the others
    on it (or on `<nil>` for the whole object), as the real server reports them."""

    def __init__(self, root: str) -> None:
        self._root = root

    def _field(self, name: str) -> str:
        name = name.removeprefix(".")
        if not self._root:
            return name or "<nil>"
        return f"{self._root}.{name}" if name else self._root

    def _plain(self, message: str) -> FieldError:
        return FieldError.invalid(self._root or "<nil>", "", message)

    def validate(self, value: Any, schema: Schema, name: str) -> list[FieldError]:
        # kube-openapi's order: type, allOf/anyOf/oneOf/not, string, format, number, array, enum,
        # object; a null only gets the type and enum checks.
        errors = self._type(value, schema, name)
        if value is None:
            errors.extend(self._enum(value, schema, name))
            return errors
        if schema.any_of or schema.one_of or schema.all_of or schema.not_ is not None:
            errors.extend(self._composition(value, schema, name))
        kind = type(value)
        if kind is str:
            errors.extend(self._string(value, schema, name))
            if schema.format:
                errors.extend(self._format(value, schema, name))
        elif kind is int or kind is float:
            errors.extend(self._number(value, schema, name))
        elif kind is list:
            errors.extend(self._array(value, schema, name))
        if schema.enum:
            errors.extend(self._enum(value, schema, name))
        if kind is dict:
            errors.extend(self._object(value, schema, name))
        return errors

    def _type_error(self, name: str, expected: str, found: str) -> FieldError:
        return FieldError.type_invalid(
            self._field(name), found, f"{name} in body must be of type {expected}: {_quote(found)}"
        )

    def _type(self, value: Any, schema: Schema, name: str) -> list[FieldError]:
        types, wanted_format = schema.types, schema.format
        if not types and not wanted_format:
            return []
        if not wanted_format and _FAST_KINDS.get(type(value)) in types:
            return []  # the common case, decided without the format rules below
        if value is None:
            if types and "null" not in types and not schema.nullable:
                return [self._type_error(name, ",".join(types), "null")]
            return []
        kind, found_format = _kind(value)
        float_as_int = kind == "number" and float(value).is_integer() and "integer" in types
        int_as_float = kind == "integer" and "number" in types
        compatible = kind in types or float_as_int or int_as_float
        if (
            kind not in ("string", "array")
            and wanted_format
            and not (compatible or found_format == wanted_format)
        ):
            return [self._type_error(name, wanted_format, found_format)]
        if wanted_format and kind in ("string", "array") and not ("number" in types or "integer" in types):
            return []
        if not compatible:
            return [self._type_error(name, ",".join(types), kind)]
        return []

    def _enum(self, value: Any, schema: Schema, name: str) -> list[FieldError]:
        if not schema.enum or any(_same_json(value, allowed) for allowed in schema.enum):
            return []
        supported = [a if isinstance(a, str) else json.dumps(a, separators=(",", ":")) for a in schema.enum]
        return [FieldError.not_supported(self._field(name), value, supported)]

    def _string(self, value: str, schema: Schema, name: str) -> list[FieldError]:
        # kube-openapi stops at the first failing string check.
        if schema.max_length is not None and len(value) > schema.max_length:
            return [FieldError.too_long(self._field(name), schema.max_length)]
        if schema.min_length is not None and len(value) < schema.min_length:
            detail = f"{name} in body should be at least {schema.min_length} chars long"
            return [FieldError.invalid(self._field(name), value, detail)]
        if schema.pattern_regex is not None and not schema.pattern_regex.search(value):
            detail = f"{name} in body should match '{schema.pattern}'"
            return [FieldError.invalid(self._field(name), value, detail)]
        return []

    def _format(self, value: str, schema: Schema, name: str) -> list[FieldError]:
        check = _FORMAT_CHECKS.get(schema.format.replace("-", ""))
        if check is None or check(value):
            return []
        detail = f"{name} in body must be of type {schema.format}: {_quote(value)}"
        return [FieldError.type_invalid(self._field(name), value, detail)]

    def _number(self, value: float, schema: Schema, name: str) -> list[FieldError]:
        errors: list[FieldError] = []
        type_name = schema.types[0] if len(schema.types) == 1 else ""
        if not _in_range(value, type_name, schema.format):
            described = f"with format {schema.format}" if schema.format else "(default format)"
            errors.append(self._plain(f"Checked value must be of type {type_name} {described} in {name}"))
        if schema.multiple_of is not None and not _multiple_of(value, schema.multiple_of):
            detail = f"{name} in body should be a multiple of {go_float(schema.multiple_of)}"
            errors.append(FieldError.invalid(self._field(name), value, detail))
        if schema.minimum is not None:
            below = value <= schema.minimum if schema.exclusive_minimum else value < schema.minimum
            if below:
                relation = "greater than" if schema.exclusive_minimum else "greater than or equal to"
                detail = f"{name} in body should be {relation} {go_float(schema.minimum)}"
                errors.append(FieldError.invalid(self._field(name), value, detail))
        if schema.maximum is not None:
            above = value >= schema.maximum if schema.exclusive_maximum else value > schema.maximum
            if above:
                relation = "less than" if schema.exclusive_maximum else "less than or equal to"
                detail = f"{name} in body should be {relation} {go_float(schema.maximum)}"
                errors.append(FieldError.invalid(self._field(name), value, detail))
        return errors

    def _array(self, value: list[Any], schema: Schema, name: str) -> list[FieldError]:
        errors: list[FieldError] = []
        if schema.items is not None:
            for index, item in enumerate(value):
                errors.extend(self.validate(item, schema.items, f"{name}[{index}]"))
        if schema.min_items is not None and len(value) < schema.min_items:
            detail = f"{name} in body should have at least {schema.min_items} items"
            errors.append(FieldError.invalid(self._field(name), len(value), detail))
        if schema.max_items is not None and len(value) > schema.max_items:
            errors.append(FieldError.too_many(self._field(name), len(value), schema.max_items))
        return errors

    def _object(self, value: dict[str, Any], schema: Schema, name: str) -> list[FieldError]:
        # A property-count failure ends the object's checks, as in kube-openapi.
        if schema.min_properties is not None and len(value) < schema.min_properties:
            detail = f"{name} in body should have at least {schema.min_properties} properties"
            return [FieldError.invalid(self._field(name), len(value), detail)]
        if schema.max_properties is not None and len(value) > schema.max_properties:
            return [FieldError.too_many(self._field(name), len(value), schema.max_properties)]
        errors: list[FieldError] = []
        if schema.additional_properties is not None:
            for key, child in value.items():
                if key not in schema.properties:
                    errors.extend(self.validate(child, schema.additional_properties, f"{name}.{key}"))
        for key, property_schema in schema.properties.items():
            if key in value:
                errors.extend(self.validate(value[key], property_schema, f"{name}.{key}" if name else key))
        for key in schema.required:
            if key not in value:
                errors.append(FieldError.required(self._field(f"{name}.{key}")))
        return errors

    def _composition(self, value: Any, schema: Schema, name: str) -> list[FieldError]:
        errors: list[FieldError] = []
        quoted = _quote(name)
        if schema.any_of:
            first_failure: list[FieldError] | None = None
            for branch in schema.any_of:
                found = self.validate(value, branch, name)
                if not found:
                    first_failure = None
                    break
                first_failure = first_failure if first_failure is not None else found
            else:
                errors.append(self._plain(f"{quoted} must validate at least one schema (anyOf)"))
            errors.extend(first_failure or ())
        if schema.one_of:
            valid = 0
            one_failure: list[FieldError] | None = None
            for branch in schema.one_of:
                found = self.validate(value, branch, name)
                if not found:
                    valid += 1
                    one_failure = None
                elif valid == 0 and one_failure is None:
                    one_failure = found
            if valid != 1:
                outcome = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                errors.append(
                    self._plain(f"{quoted} must validate one and only one schema (oneOf). {outcome}")
                )
                errors.extend(one_failure or ())
        if schema.all_of:
            valid = 0
            for branch in schema.all_of:
                found = self.validate(value, branch, name)
                valid += not found
                errors.extend(found)
            if valid != len(schema.all_of):
                outcome = ". None validated" if valid == 0 else ""
                errors.append(self._plain(f"{quoted} must validate all the schemas (allOf){outcome}"))
        if schema.not_ is not None and not self.validate(value, schema.not_, name):
            errors.append(self._plain(f"{quoted} must not validate the schema (not)"))
        return errors


def _same_json(value: Any, allowed: Any) -> bool:
    if _is_number(value) and _is_number(allowed):
        return bool(value == allowed)
    return type(value) is type(allowed) and bool(value == allowed)


def _in_range(value: float, type_name: str, number_format: str) -> bool:
    """Whether the value converts to the type and format without loss (kube-openapi's
    IsValueValidAgainstRange: a fractional value is not an integer; int32 must fit)."""
    if type_name == "integer":
        if isinstance(value, float) and not value.is_integer():
            return False
        low, high = _INT32 if number_format == "int32" else _INT64
        return low <= int(value) <= high
    if number_format == "float":
        return abs(value) <= _FLOAT32_MAX
    return True


def _multiple_of(value: float, factor: float) -> bool:
    if isinstance(value, int) and float(factor).is_integer():
        return value % int(factor) == 0
    quotient = value / factor
    return abs(quotient - round(quotient)) < 1e-9


# ------------------------------------------------------------------------------------- formats

_DATE_TIME_TAIL = go_regexp(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_UUID = {
    "uuid": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\Z"),
    "uuid3": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}\Z"),
    "uuid4": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}\Z"),
    "uuid5": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}\Z"),
}


def _is_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_date_time(text: str) -> bool:
    """strfmt's IsDateTime: a full date, a `t` (any case), a time with an optional fraction and a
    `z` or `±hh:mm` offset."""
    if len(text) < 4:
        return False
    parts = text.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    assert _DATE_TIME_TAIL is not None
    match = _DATE_TIME_TAIL.search(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "%" not in text  # Go's net.ParseIP takes no IPv6 zone


def _is_cidr(text: str) -> bool:
    if "/" not in text or "%" in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _is_ipv4(text: str) -> bool:
    return _is_ip(text) and "." in text


def _is_ipv6(text: str) -> bool:
    return _is_ip(text) and ":" in text


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.match(text) is not None


_FORMAT_CHECKS: Mapping[str, Callable[[str], bool]] = {
    "datetime": _is_date_time,
    "date": _is_date,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "cidr": _is_cidr,
    **{name: _matches(pattern) for name, pattern in _UUID.items()},
}


# ---------------------------------------------------------------------------------- list types


def list_type_errors(obj: Mapping[str, Any], schema: Schema) -> list[FieldError]:
    """Duplicates in `x-kubernetes-list-type: set` lists and duplicate keys in `map` lists."""
    return _object_lists("", schema, obj) if schema.list_types_within else []


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _object_lists(path: str, schema: Schema, obj: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if schema.additional_properties is not None:
        for key, value in obj.items():
            errors.extend(_lists(f"{path}[{key}]", schema.additional_properties, value))
    for key, value in obj.items():
        child = schema.properties.get(key)
        if child is not None:
            errors.extend(_lists(_child(path, key), child, value))
    return errors


def _lists(path: str, schema: Schema, value: Any) -> list[FieldError]:
    if not schema.list_types_within:
        return []
    if isinstance(value, dict):
        return _object_lists(path, schema, value)
    if not isinstance(value, list):
        return []
    errors: list[FieldError] = []
    if schema.list_type == "set":
        errors.extend(FieldError.duplicate(f"{path}[{i}]", value[i]) for i in _repeated(value))
    elif schema.list_type == "map":
        errors.extend(_map_list_errors(path, schema, value))
    if schema.items is not None:
        for index, item in enumerate(value):
            errors.extend(_lists(f"{path}[{index}]", schema.items, item))
    return errors


def _identity(value: Any) -> Any:
    if isinstance(value, dict | list):
        return ("compound", json.dumps(value, sort_keys=True, separators=(",", ":")))
    return (type(value).__name__, value)


def _repeated(values: Sequence[Any]) -> list[int]:
    """Indices of the second appearance of each repeated value (later ones are not reported)."""
    seen: dict[Any, int] = {}
    repeated: list[int] = []
    for index, value in enumerate(values):
        key = _identity(value)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            repeated.append(index)
    return repeated


_UNSPECIFIED = ("unspecified", None)


def _map_list_errors(path: str, schema: Schema, value: list[Any]) -> list[FieldError]:
    for index, item in enumerate(value):
        if item is not None and not isinstance(item, dict):
            return [
                FieldError.invalid(
                    f"{path}[{index}]", item, "must be an object for an array of list-type map"
                )
            ]
    if len(value) <= 1:
        return []
    keys: list[Any] = []
    shown: list[dict[str, Any]] = []
    for item in value:
        present = {k: item[k] for k in sorted(schema.list_map_keys) if item is not None and k in item}
        shown.append(present)
        if len(schema.list_map_keys) == 1:
            keys.append(next(iter(present.values())) if present else _UNSPECIFIED)
        else:
            keys.append(present)
    return [FieldError.duplicate(f"{path}[{i}]", shown[i]) for i in _repeated(keys)]
