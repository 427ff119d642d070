"""Load-balancer and target-group attribute annotations (``k=v`` maps) and deletion protection.

Attributes are passed to AWS as written (upstream validates none but ``preserve_client_ip.enabled``
and the NLB's ``dns_record.client_routing_policy``; AWS refuses unknown keys). The deploy step
compares only the keys a spec names with what AWS reports, as upstream: removing a key from the
annotation leaves the attribute as it is in AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from controller.annotations import InvalidAnnotationError, ModelBuildError, ObjectRef, parse_string_map
from controller.flagtypes import parse_bool as go_parse_bool

DELETION_PROTECTION: Final = "deletion_protection.enabled"
ACCESS_LOGS_S3_ENABLED: Final = "access_logs.s3.enabled"
ACCESS_LOGS_S3_BUCKET: Final = "access_logs.s3.bucket"
ACCESS_LOGS_S3_PREFIX: Final = "access_logs.s3.prefix"
CROSS_ZONE_ENABLED: Final = "load_balancing.cross_zone.enabled"
DNS_CLIENT_ROUTING_POLICY: Final = "dns_record.client_routing_policy"
DNS_CLIENT_ROUTING_POLICIES: Final = (
    "any_availability_zone",
    "partial_availability_zone_affinity",
    "availability_zone_affinity",
)


def parse_attributes(ref: ObjectRef, key: str, raw: str | None) -> dict[str, str]:
    """The annotation's ``k=v`` map (empty when absent); a malformed map names the annotation."""
    if raw is None:
        return {}
    return parse_string_map(ref, key, raw)


def deletion_protection_enabled(ref: ObjectRef, key: str, raw: str | None) -> bool:
    """Whether the attribute annotation asks for deletion protection (upstream reads it with Go's
    ParseBool; anything else is an error naming the annotation)."""
    value = parse_attributes(ref, key, raw).get(DELETION_PROTECTION)
    if value is None:
        return False
    try:
        return go_parse_bool(value)
    except ValueError:
        raise InvalidAnnotationError(
            ref, key, raw or "", f'strconv.ParseBool: parsing "{value}": invalid syntax'
        ) from None


class DeletionProtectedError(ModelBuildError):
    """An object being deleted still asks for deletion protection of its load balancer.

    Upstream refuses to build (and so to delete anything) with "deletion_protection is enabled,
    cannot delete the ingress: <name>"; the object keeps its finalizer and is retried with backoff
    until the annotation says false. Nothing of the stack is touched meanwhile: its TargetGroupBindings
    and so the rules on node and pod SGs stay while the load balancer exists.
    """

    retryable = True

    def __init__(self, ref: ObjectRef, key: str, load_balancers: tuple[str, ...]) -> None:
        kind = ref.kind.lower()
        named = ", ".join(load_balancers) if load_balancers else "its load balancer"
        super().__init__(
            f"deletion_protection is enabled, cannot delete the {kind}: {ref.name} "
            f"({ref}: {key} has {DELETION_PROTECTION}=true; {named} is kept until it is set to false)",
            [ref],
        )
        self.ref = ref
        self.key = key
        self.load_balancers = load_balancers


def merged_attributes(*maps: Mapping[str, str]) -> dict[str, str]:
    """Upstream's ``MergeStringMap``: the first map holding a key wins."""
    merged: dict[str, str] = {}
    for attributes in maps:
        for name, value in attributes.items():
            merged.setdefault(name, value)
    return merged
