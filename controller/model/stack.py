"""The stack model: everything one Ingress group or one Service needs in AWS, as frozen data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.model.load_balancer import ListenerSpec, LoadBalancerSpec
from controller.model.security_group import ManagedSecurityGroupSpec
from controller.model.target_group import TargetGroupSpec
from controller.model.target_group_binding import TargetGroupBindingSpec
from controller.naming import StackTags


@dataclass(frozen=True)
class StackModel:
    stack_tags: StackTags
    """The stack's identity (cluster, tag prefix, stack id). The reconciler builds it once and the
    builder carries it here, so the resource tags in this model and the deployer's lookups by tag
    cannot disagree (a deletion, which has no model, takes the reconciler's)."""
    tags: Mapping[str, str]
    """Spec tags (user tags merged with ``--default-tags``), without tracking tags."""
    load_balancer: LoadBalancerSpec
    listeners: tuple[ListenerSpec, ...]
    target_groups: tuple[TargetGroupSpec, ...]
    managed_sg: ManagedSecurityGroupSpec | None
    security_group_refs: tuple[str, ...]
    """SGs to attach to the LB, in order (upstream-behaviour §1.10): SG ids, ``"managed"``, ``"backend"``.
    Empty for an NLB without security groups."""
    needs_backend_sg: bool
    """The stack allocates the shared backend SG (auto mode with it enabled, or custom SGs with
    backend rule management): the deploy step must Get it and the controller must track the user."""
    target_group_bindings: tuple[TargetGroupBindingSpec, ...]
    warnings: tuple[str, ...] = field(default=())
    """Non-fatal problems to post as Warning events (e.g. IPv6 inbound CIDRs on an ipv4 ALB)."""

    @property
    def stack_id(self) -> str:
        """``namespace/name`` for Services and implicit Ingress groups, the group name for explicit ones."""
        return self.stack_tags.stack_id

    def target_group(self, resource_id: str) -> TargetGroupSpec:
        for target_group in self.target_groups:
            if target_group.resource_id == resource_id:
                return target_group
        raise KeyError(resource_id)
