"""What a deploy or a stack deletion did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeletionResult:
    """Resources deleted, in the order they were deleted (LBs, then TGs, then SGs)."""

    load_balancer_arns: tuple[str, ...] = ()
    target_group_arns: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    listener_arns: tuple[str, ...] = ()
    rule_arns: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (
            self.load_balancer_arns
            or self.target_group_arns
            or self.security_group_ids
            or self.listener_arns
            or self.rule_arns
        )


@dataclass(frozen=True)
class DeployResult:
    lb_arn: str
    lb_dns_name: str
    managed_sg_id: str | None
    """None when the model has no managed SG (custom SGs, or an NLB without SGs)."""
    load_balancer_security_groups: tuple[str, ...]
    """The SG ids attached to the LB, in the model's order (upstream-behaviour §1.10)."""
    target_group_arns: Mapping[str, str] = field(hash=False)
    """``TargetGroupSpec.resource_id`` → ARN."""
    tgb_specs: tuple[dict[str, Any], ...] = field(hash=False)
    """Complete TargetGroupBinding objects (apiVersion, kind, metadata, spec) for the caller to apply."""
    deleted: DeletionResult = field(default_factory=DeletionResult)
    """Resources of the stack the model no longer needs, deleted at the end of the deploy."""
    created_empty_target_group_arns: tuple[str, ...] = ()
    """Target groups this deploy created, new to AWS: no target is registered in them yet."""
