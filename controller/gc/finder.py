"""Compare what AWS holds with what live objects own: the ``LeakReport``.

Four kinds of leak, each recognised only by our own marks (tags, the rule label), never by names:

* a stack's resources (managed SG, load balancers, target groups) whose stack tags
  (``elbv2.k8s.aws/cluster`` or the legacy ``ingress.k8s.aws/cluster``, plus ``<prefix>/stack``)
  name an Ingress or Service stack that no live object owns (``owners.LiveOwners``);
* the backend SG (``elbv2.k8s.aws/resource=backend-sg``) when no load balancer of the VPC has it
  attached and no live TargetGroupBinding names it as a source;
* a labelled rule (``elbv2.k8s.aws/targetGroupBinding=shared``) whose source SG does not exist, or
  whose source no live TargetGroupBinding names in ``spec.networking``.

A rule is matched to bindings by its source only (not its ports or endpoint SG): finding out which
SG a binding's targets sit on takes the endpoint discovery's AWS reads; a wrongly packed range of a
needed source is the endpoint-SG controller's to repair, not a leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.gc.inventory import AwsInventory
from controller.gc.owners import LiveOwners, source_of
from controller.naming import (
    INGRESS_TAG_PREFIX,
    SERVICE_TAG_PREFIX,
    TAG_CLUSTER,
    TAG_LEGACY_INGRESS_CLUSTER,
    TAG_NAME,
    StackTags,
    backend_sg_tags,
    stack_tag_key,
)
from controller.networking.labels import OWN_TGB_SHARED_RULES
from controller.networking.rules import Rule, SecurityGroupSource

JUDGED_PREFIXES = (INGRESS_TAG_PREFIX, SERVICE_TAG_PREFIX)
"""Stacks whose owners we can list. Gateway stacks are never judged (never reported, never deleted):
``gc`` does not read Gateways yet, so it cannot tell an orphan from a live Gateway's stack."""

SOURCE_MISSING = "source security group does not exist"
SOURCE_UNNEEDED = "no TargetGroupBinding names this source"


@dataclass(frozen=True)
class LeakedSecurityGroup:
    group_id: str
    name: str
    stack: StackTags | None
    """None for the backend SG (it belongs to the cluster, not to a stack)."""


@dataclass(frozen=True)
class LeakedElbv2Resource:
    arn: str
    name: str
    stack: StackTags


@dataclass(frozen=True)
class LeakedRule:
    group_id: str
    """The endpoint SG the rule is on."""
    rule: Rule
    reason: str


@dataclass(frozen=True)
class LeakReport:
    security_groups: tuple[LeakedSecurityGroup, ...] = ()
    """Managed SGs of unowned stacks, then leaked backend SGs."""
    load_balancers: tuple[LeakedElbv2Resource, ...] = ()
    target_groups: tuple[LeakedElbv2Resource, ...] = ()
    rules: tuple[LeakedRule, ...] = ()
    stacks: tuple[StackTags, ...] = field(default=())
    """Every unowned stack with something left in AWS (what ``gc --apply`` deletes whole)."""

    @property
    def backend_security_groups(self) -> tuple[LeakedSecurityGroup, ...]:
        return tuple(g for g in self.security_groups if g.stack is None)

    @property
    def is_empty(self) -> bool:
        return not (self.security_groups or self.load_balancers or self.target_groups or self.rules)

    def counts(self) -> dict[str, int]:
        return {
            "security_groups": len(self.security_groups),
            "load_balancers": len(self.load_balancers),
            "target_groups": len(self.target_groups),
            "rules": len(self.rules),
        }


def security_group_stacks(tags: Mapping[str, str], cluster_name: str) -> list[StackTags]:
    """The stacks an SG's tags name for ``cluster_name`` (both lookups of upstream-behaviour §1.8)."""
    if cluster_name not in (tags.get(TAG_CLUSTER), tags.get(TAG_LEGACY_INGRESS_CLUSTER)):
        return []
    return [
        StackTags(cluster_name, prefix, tags[stack_tag_key(prefix)])
        for prefix in JUDGED_PREFIXES
        if stack_tag_key(prefix) in tags
    ]


def _elbv2_stacks(tags: Mapping[str, str], cluster_name: str) -> list[StackTags]:
    if tags.get(TAG_CLUSTER) != cluster_name:
        return []
    return [
        StackTags(cluster_name, prefix, tags[stack_tag_key(prefix)])
        for prefix in JUDGED_PREFIXES
        if stack_tag_key(prefix) in tags
    ]


def _is_backend_sg(tags: Mapping[str, str], cluster_name: str) -> bool:
    return all(tags.get(key) == value for key, value in backend_sg_tags(cluster_name).items())


def find_leaks(
    inventory: AwsInventory, owners: LiveOwners, *, cluster_name: str, custom_backend_sg: str = ""
) -> LeakReport:
    """The leaks in ``inventory`` (see the module docstring); sorted, so reports are stable."""

    def unowned(stacks: list[StackTags]) -> StackTags | None:
        # A resource naming several stacks is leaked only if none of them is owned.
        if not stacks or any(s in owners.stacks for s in stacks):
            return None
        return stacks[0]

    leaked_stacks: set[StackTags] = set()
    security_groups: list[LeakedSecurityGroup] = []
    for group in inventory.security_groups:
        stack = unowned(security_group_stacks(group.tags, cluster_name))
        if stack is not None:
            leaked_stacks.add(stack)
            security_groups.append(LeakedSecurityGroup(group.group_id, group.group_name, stack))

    elbv2: dict[str, list[LeakedElbv2Resource]] = {"lb": [], "tg": []}
    for kind, resources in (("lb", inventory.load_balancers), ("tg", inventory.target_groups)):
        for resource in resources:
            stack = unowned(_elbv2_stacks(resource.tags, cluster_name))
            if stack is not None:
                leaked_stacks.add(stack)
                name = resource.description.name or resource.tags.get(TAG_NAME, "")
                elbv2[kind].append(LeakedElbv2Resource(resource.arn, name, stack))

    attached = {sg for lb in inventory.load_balancers for sg in lb.description.security_groups}
    named_groups = {s.value for s in owners.rule_sources}
    backend: list[LeakedSecurityGroup] = [
        LeakedSecurityGroup(group.group_id, group.group_name, None)
        for group in inventory.security_groups
        if _is_backend_sg(group.tags, cluster_name)
        and group.group_id != custom_backend_sg
        and group.group_id not in attached
        and group.group_id not in named_groups
    ]

    doomed_groups = {g.group_id for g in security_groups}
    rules: list[LeakedRule] = []
    for group in inventory.security_groups:
        if group.group_id in doomed_groups:
            continue  # deleted whole with its stack
        for rule in group.ingress:
            if not OWN_TGB_SHARED_RULES.owns(rule):
                continue
            source = rule.source
            if isinstance(source, SecurityGroupSource) and source.group_id in inventory.missing_source_groups:
                rules.append(LeakedRule(group.group_id, rule, SOURCE_MISSING))
            elif source_of(source) not in owners.rule_sources:
                rules.append(LeakedRule(group.group_id, rule, SOURCE_UNNEEDED))

    def stack_key(stack: StackTags | None) -> tuple[str, str]:
        return ("", "") if stack is None else (stack.prefix, stack.stack_id)

    return LeakReport(
        security_groups=tuple(sorted(security_groups, key=lambda g: (stack_key(g.stack), g.group_id)))
        + tuple(sorted(backend, key=lambda g: g.group_id)),
        load_balancers=tuple(sorted(elbv2["lb"], key=lambda r: (stack_key(r.stack), r.arn))),
        target_groups=tuple(sorted(elbv2["tg"], key=lambda r: (stack_key(r.stack), r.arn))),
        rules=tuple(sorted(rules, key=lambda r: (r.group_id, r.rule.sort_key()))),
        stacks=tuple(sorted(leaked_stacks, key=stack_key)),
    )
