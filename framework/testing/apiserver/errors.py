"""API errors rendered as the `Status` bodies a real kube-apiserver returns.

Messages, reasons and `details` follow k8s.io/apimachinery/pkg/api/errors so that client code which
inspects them (reason, code, details.causes) behaves here as it does against a cluster.
"""

from __future__ import annotations

import decimal
import json
import math
from dataclasses import dataclass
from typing import Any

# Go's field.ErrorType strings and the StatusCause reasons they map to.
_FIELD_ERROR_TEXT = {
    "FieldValueRequired": "Required value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTypeInvalid": "Invalid value",
}


def go_float(value: float) -> str:
    """A float64 as Go's `%v` prints it (strconv's shortest `g`): the shortest digits that round-trip,
    in exponent form (`1e+06`, `1.5e-05`) when the decimal exponent is below -4 or at least 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple)
    point = len(digits) + exponent  # the decimal point sits after this many digits
    prefix = "-" if sign else ""
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if decimal_exponent < 0 else '+'}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def go_quote(value: Any) -> str:
    """Render a value the way Go's `%#v`/`%q` does in field error messages (close enough for strings/ints)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class FieldError:
    """One entry of a 422 Invalid error (Go's `field.Error`)."""

    reason: str  # a key of _FIELD_ERROR_TEXT
    field: str
    detail: str = ""
    value: Any = None
    has_value: bool = False

    @classmethod
    def required(cls, field: str, detail: str = "") -> FieldError:
        return cls("FieldValueRequired", field, detail)

    @classmethod
    def invalid(cls, field: str, value: Any, detail: str) -> FieldError:
        return cls("FieldValueInvalid", field, detail, value, True)

    @classmethod
    def forbidden(cls, field: str, detail: str) -> FieldError:
        return cls("FieldValueForbidden", field, detail)

    @classmethod
    def not_supported(cls, field: str, value: Any, supported: list[str]) -> FieldError:
        detail = "supported values: " + ", ".join(json.dumps(s) for s in supported)
        return cls("FieldValueNotSupported", field, detail, value, True)

    @classmethod
    def duplicate(cls, field: str, value: Any) -> FieldError:
        return cls("FieldValueDuplicate", field, "", value, True)

    @classmethod
    def too_long(cls, field: str, max_length: int) -> FieldError:
        """A string over its maximum length; the real server leaves the value out of the message."""
        return cls("FieldValueTooLong", field, f"may not be more than {max_length} bytes")

    @classmethod
    def too_many(cls, field: str, actual: int, maximum: int) -> FieldError:
        return cls("FieldValueTooMany", field, f"must have at most {maximum} items", actual, True)

    @classmethod
    def type_invalid(cls, field: str, value: Any, detail: str) -> FieldError:
        return cls("FieldValueTypeInvalid", field, detail, value, True)

    def body(self) -> str:
        """The message without the field path, as used in `details.causes[].message`."""
        text = _FIELD_ERROR_TEXT[self.reason]
        if self.has_value:
            text += f": {go_quote(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def message(self) -> str:
        return f"{self.field}: {self.body()}"


class ApiError(Exception):
    """An error response; `status()` is the JSON body and `code` the HTTP status."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified_resource(group: str, plural: str) -> str:
    """`pods` for the core group, `leases.coordination.k8s.io` otherwise (Go's GroupResource.String)."""
    return f"{plural}.{group}" if group else plural


def _resource_details(group: str, plural: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified_resource(group, plural)} "{name}" not found',
        _resource_details(group, plural, name),
    )


def unknown_resource() -> ApiError:
    """What the API server answers for a path that names no resource it serves."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified_resource(group, plural)} "{name}" already exists',
        _resource_details(group, plural, name),
    )


def conflict(group: str, plural: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified_resource(group, plural)} "{name}": {why}',
        _resource_details(group, plural, name),
    )


def precondition_failed(group: str, kind: str, name: str, why: str) -> ApiError:
    """A DeleteOptions precondition that does not hold. Unlike the other conflicts, the storage
    layer reports it against the kind (`ConfigMap`, `Lease.coordination.k8s.io`), not the resource."""
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    qualified_kind = f"{kind}.{group}" if group else kind
    return ApiError(
        409, "Conflict", f'Operation cannot be fulfilled on {qualified_kind} "{name}": {why}', details
    )


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(group: str, kind: str, name: str, errors: list[FieldError]) -> ApiError:
    summary = errors[0].message() if len(errors) == 1 else "[" + ", ".join(e.message() for e in errors) + "]"
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": e.reason, "message": e.body(), "field": e.field} for e in errors]
    qualified_kind = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    del content_type  # the real server does not echo the offending type
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def forbidden(group: str, plural: str, name: str, why: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        f'{qualified_resource(group, plural)} "{name}" is forbidden: {why}',
        _resource_details(group, plural, name),
    )


def timeout(message: str) -> ApiError:
    return ApiError(504, "Timeout", message, {})
