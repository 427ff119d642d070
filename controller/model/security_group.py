"""The frontend managed SG spec and the SG references of a stack model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from controller.annotations import ModelBuildError, ObjectRef
from controller.networking.quota import RuleCount
from controller.networking.rules import Rule

MANAGED_SG_REF: Final = "managed"
"""Placeholder for the id of the stack's managed SG, known only after the deploy step creates it."""
BACKEND_SG_REF: Final = "backend"
"""Placeholder for the id of the cluster's shared backend SG (auto-created or ``--backend-security-group``)."""
SG_PLACEHOLDERS: Final = frozenset({MANAGED_SG_REF, BACKEND_SG_REF})


@dataclass(frozen=True)
class ManagedSecurityGroupSpec:
    name: str
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)
    ingress: tuple[Rule, ...] = ()
    """Desired inbound rules, one source each, in a deterministic order."""


def resolve_sg_refs(refs: tuple[str, ...], managed_sg_id: str | None, backend_sg_id: str | None) -> list[str]:
    """Replace the placeholders in ``StackModel.security_group_refs`` with real ids, keeping order."""
    resolved: list[str] = []
    for ref in refs:
        if ref == MANAGED_SG_REF:
            if managed_sg_id is None:
                raise ValueError("the model references the managed SG but no managed SG id was given")
            resolved.append(managed_sg_id)
        elif ref == BACKEND_SG_REF:
            if backend_sg_id is None:
                raise ValueError("the model references the backend SG but no backend SG id was given")
            resolved.append(backend_sg_id)
        else:
            resolved.append(ref)
    return resolved


class RulesQuotaExceededError(ModelBuildError):
    """The managed SG would need more inbound rules than ``--sg-rules-quota``: AWS would refuse them
    (``RulesPerSecurityGroupLimitExceeded``), so nothing is sent and only an edit can fix it."""


def check_rules_quota(spec: ManagedSecurityGroupSpec, quota: int, objects: Sequence[ObjectRef]) -> None:
    """Raises ``RulesQuotaExceededError`` naming ``objects``, the SG, the rules needed and the quota."""
    count = RuleCount.of(spec.ingress)
    if count.used <= quota:
        return
    named = ", ".join(str(ref) for ref in objects)
    raise RulesQuotaExceededError(
        f"{named}: managed security group {spec.name} would need {count.used} inbound rules "
        f"({count.ipv4} IPv4 CIDR, {count.ipv6} IPv6 CIDR and {count.both} prefix-list rules over "
        f"all listen ports), more than the quota of {quota} (--sg-rules-quota); use fewer inbound "
        "CIDRs, prefix lists or ports, or a prefix list in place of many CIDRs",
        objects,
    )
