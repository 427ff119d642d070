"""Health-check annotation values shared by the ALB and NLB builders: integers and success codes.

Upstream parses the integers with Go's ``strconv.ParseInt`` and lets AWS refuse a value outside its
limits (a ``ValidationError`` on every retry). We check AWS's documented limits of
CreateTargetGroup/ModifyTargetGroup before any call, as we do for tags (design.md Difference 13),
so a bad value is one Warning naming the object, the annotation and the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from controller.annotations import InvalidAnnotationError, ObjectRef, parse_int32


@dataclass(frozen=True)
class Limit:
    """AWS's inclusive range for one health-check field, and the field's AWS name (for errors)."""

    field: str
    minimum: int
    maximum: int


INTERVAL: Final = Limit("HealthCheckIntervalSeconds", 5, 300)
TIMEOUT: Final = Limit("HealthCheckTimeoutSeconds", 2, 120)
HEALTHY_THRESHOLD: Final = Limit("HealthyThresholdCount", 2, 10)
UNHEALTHY_THRESHOLD: Final = Limit("UnhealthyThresholdCount", 2, 10)

# Matcher ranges AWS documents: ALB HTTP codes 200-499, NLB HTTP codes 200-599, gRPC codes 0-99.
ALB_HTTP_CODES: Final = (200, 499)
NLB_HTTP_CODES: Final = (200, 599)
GRPC_CODES: Final = (0, 99)
_CODES: Final = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


def health_check_int(ref: ObjectRef, key: str, raw: str | None, default: int, limit: Limit) -> int:
    """The annotation's value (``default`` when absent), a Go int32 within AWS's ``limit``."""
    if raw is None:
        return default
    value = parse_int32(ref, key, raw)
    if not limit.minimum <= value <= limit.maximum:
        raise InvalidAnnotationError(
            ref, key, raw, f"{limit.field} must be within [{limit.minimum}, {limit.maximum}]"
        )
    return value


def success_codes(ref: ObjectRef, key: str, raw: str, allowed: tuple[int, int]) -> str:
    """A matcher as AWS takes it: codes and ranges, comma separated (``200``, ``200,202``,
    ``200-299``), each code within ``allowed`` and each range ascending."""
    low, high = allowed
    if not _CODES.match(raw):
        raise InvalidAnnotationError(
            ref,
            key,
            raw,
            'success codes must be codes or ranges separated by commas, like "200,202" or "200-299"',
        )
    for item in raw.split(","):
        first, _, last = item.partition("-")
        start, end = int(first), int(last or first)
        if not low <= start <= end <= high:
            raise InvalidAnnotationError(
                ref, key, raw, f"success code {item} is not within [{low}, {high}] (or the range is reversed)"
            )
    return raw
