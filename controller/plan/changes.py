"""From the recorded writes to a plan a person can read: per SG, per ELBv2 resource (pure).

Nothing here decides what changes: every entry is one of the controller's writes, regrouped. The
only thing computed is what the writes mean for the ports of a packed rule set: per (SG, protocol,
source) the ports open before and after the SG's revokes and authorizes, so a repack that replaces
``30000-30005`` by ``30000-30010`` reads "opens 30006-30010".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from controller.aws.ec2_types import IpPermission
from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    Rule,
    SecurityGroupSource,
    expand_ip_permissions,
)
from controller.networking.sg_info import SecurityGroupInfo
from controller.plan.dry_run import PlannedCall, is_planned_id
from controller.plan.planner import PlanOutcome, PlanWarning

Action = Literal["create", "update", "delete"]

_PORT_PROTOCOLS: Final = frozenset({"tcp", "udp", "-1"})
_MAX_PORT: Final = 65535


@dataclass(frozen=True)
class PortDelta:
    """Ports newly opened and closed for one (protocol, source) on one SG, as inclusive ranges."""

    protocol: str
    source: str
    opened: tuple[tuple[int, int], ...]
    closed: tuple[tuple[int, int], ...]
    packed: bool = False
    """From a source SG or prefix list, whose ports the controller packs into ranges."""
    replaced: bool = False
    """Rules of this (protocol, source) are revoked as others are authorized (a repack)."""


@dataclass(frozen=True)
class SecurityGroupPlan:
    action: Action
    group_id: str
    """The SG's id (a ``planned-sg-N`` id for one to be created)."""
    name: str
    vpc_id: str | None
    authorize: tuple[Rule, ...] = ()
    revoke: tuple[Rule, ...] = ()
    tags_set: Mapping[str, str] = field(default_factory=dict, hash=False)
    tags_removed: tuple[str, ...] = ()
    ports: tuple[PortDelta, ...] = ()
    description: str = ""


ElbKind = Literal["load-balancer", "target-group", "listener", "listener-rule"]


@dataclass(frozen=True)
class ResourcePlan:
    """One ELBv2 resource and what the controller would do to it."""

    kind: ElbKind
    action: Action
    resource_id: str
    """ARN (a ``planned-arn:`` one for a resource to be created)."""
    name: str
    details: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    security_groups: tuple[SecurityGroupPlan, ...] = ()
    resources: tuple[ResourcePlan, ...] = ()
    calls: tuple[PlannedCall, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()
    notes: tuple[PlanWarning, ...] = ()
    sg_names: Mapping[str, str] = field(default_factory=dict, hash=False)
    """SG id → name, for every SG the plan mentions (to print sources and attachments by name)."""

    @property
    def has_changes(self) -> bool:
        return bool(self.calls)


# ------------------------------------------------------------------------------------------ SGs


def _rules(params: Mapping[str, Any]) -> list[Rule]:
    return expand_ip_permissions(IpPermission.from_aws(p) for p in params.get("IpPermissions") or ())


def describe_source(rule: Rule, sg_names: Mapping[str, str]) -> str:
    """``0.0.0.0/0``, ``pl-123``, or ``sg-123 (name)`` / ``name (new)`` for an SG source."""
    match rule.source:
        case SecurityGroupSource(group_id=group_id):
            return describe_group(group_id, sg_names)
        case Ipv4CidrSource(cidr=cidr) | Ipv6CidrSource(cidr=cidr):
            return cidr
        case PrefixListSource(prefix_list_id=prefix_list_id):
            return prefix_list_id
    return str(rule.source)


def describe_group(group_id: str, sg_names: Mapping[str, str]) -> str:
    name = sg_names.get(group_id, "")
    if is_planned_id(group_id):
        return f"{name} (new)"
    return f"{group_id} ({name})" if name else group_id


def _port_set(rules: Iterable[Rule]) -> set[int]:
    ports: set[int] = set()
    for rule in rules:
        if rule.from_port is None or rule.protocol == "-1":
            return set(range(_MAX_PORT + 1))
        ports.update(range(rule.from_port, (rule.to_port or rule.from_port) + 1))
    return ports


def _ranges(ports: set[int]) -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    for port in sorted(ports):
        if ranges and port == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], port)
        else:
            ranges.append((port, port))
    return tuple(ranges)


def port_deltas(
    before: Sequence[Rule], authorize: Sequence[Rule], revoke: Sequence[Rule], sg_names: Mapping[str, str]
) -> tuple[PortDelta, ...]:
    """Per (protocol, source) touched: the ports open after the revokes and authorizes minus those
    open before, and the other way round. ICMP rules have types, not ports: left out."""
    revoked = set(revoke)
    after = [r for r in before if r not in revoked] + list(authorize)
    keys = sorted(
        {(r.protocol, r.source) for r in (*authorize, *revoke) if r.protocol in _PORT_PROTOCOLS},
        key=lambda key: (key[0], str(key[1])),
    )
    deltas: list[PortDelta] = []
    for protocol, source in keys:
        was = _port_set(r for r in before if (r.protocol, r.source) == (protocol, source))
        will = _port_set(r for r in after if (r.protocol, r.source) == (protocol, source))
        sample = next(r for r in (*authorize, *revoke) if (r.protocol, r.source) == (protocol, source))
        if was != will:
            same = [r for r in (*authorize, *revoke) if (r.protocol, r.source) == (protocol, source)]
            deltas.append(
                PortDelta(
                    "all" if protocol == "-1" else protocol,
                    describe_source(sample, sg_names),
                    _ranges(will - was),
                    _ranges(was - will),
                    packed=isinstance(source, SecurityGroupSource | PrefixListSource),
                    replaced=any(r in revoked for r in same) and any(r not in revoked for r in same),
                )
            )
    return tuple(deltas)


@dataclass
class _SgDraft:
    action: Action
    info: SecurityGroupInfo | None
    authorize: list[Rule] = field(default_factory=list)
    revoke: list[Rule] = field(default_factory=list)
    tags_set: dict[str, str] = field(default_factory=dict)
    tags_removed: list[str] = field(default_factory=list)


def _security_groups(outcome: PlanOutcome, sg_names: Mapping[str, str]) -> tuple[SecurityGroupPlan, ...]:
    drafts: dict[str, _SgDraft] = {}

    def draft(group_id: str) -> _SgDraft:
        if group_id not in drafts:
            drafts[group_id] = _SgDraft("update", outcome.security_groups.get(group_id))
        return drafts[group_id]

    for call in outcome.calls:
        if call.service != "ec2":
            continue
        params = call.params
        if call.operation == "CreateSecurityGroup" and call.result_id is not None:
            created = draft(call.result_id)
            created.action = "create"
            for spec in params.get("TagSpecifications") or ():
                created.tags_set.update(
                    {str(t["Key"]): str(t.get("Value", "")) for t in spec.get("Tags") or ()}
                )
        elif call.operation == "DeleteSecurityGroup":
            draft(str(params["GroupId"])).action = "delete"
        elif call.operation == "AuthorizeSecurityGroupIngress":
            draft(str(params["GroupId"])).authorize.extend(_rules(params))
        elif call.operation == "RevokeSecurityGroupIngress":
            draft(str(params["GroupId"])).revoke.extend(_rules(params))
        elif call.operation in ("CreateTags", "DeleteTags"):
            for resource in params.get("Resources") or ():
                target = draft(str(resource))
                for tag in params.get("Tags") or ():
                    if call.operation == "CreateTags":
                        target.tags_set[str(tag["Key"])] = str(tag.get("Value", ""))
                    else:
                        target.tags_removed.append(str(tag["Key"]))
    plans: list[SecurityGroupPlan] = []
    for group_id, d in drafts.items():
        info = d.info
        before = list(info.ingress) if info is not None and d.action != "create" else []
        plans.append(
            SecurityGroupPlan(
                action=d.action,
                group_id=group_id,
                name=sg_names.get(group_id, ""),
                vpc_id=info.vpc_id if info is not None else None,
                authorize=tuple(sorted(d.authorize, key=Rule.sort_key)),
                revoke=tuple(sorted(d.revoke, key=Rule.sort_key)),
                tags_set=dict(sorted(d.tags_set.items())),
                tags_removed=tuple(sorted(d.tags_removed)),
                ports=port_deltas(before, d.authorize, d.revoke, sg_names),
                description=info.description if info is not None else "",
            )
        )
    order = {"create": 0, "update": 1, "delete": 2}
    return tuple(sorted(plans, key=lambda p: (order[p.action], p.name, p.group_id)))


# ------------------------------------------------------------------------------------------ ELBv2

_ELBV2: Final[Mapping[str, tuple[ElbKind, Action, str | None]]] = {
    "CreateLoadBalancer": ("load-balancer", "create", None),
    "DeleteLoadBalancer": ("load-balancer", "delete", "LoadBalancerArn"),
    "SetSecurityGroups": ("load-balancer", "update", "LoadBalancerArn"),
    "SetSubnets": ("load-balancer", "update", "LoadBalancerArn"),
    "SetIpAddressType": ("load-balancer", "update", "LoadBalancerArn"),
    "ModifyLoadBalancerAttributes": ("load-balancer", "update", "LoadBalancerArn"),
    "CreateTargetGroup": ("target-group", "create", None),
    "DeleteTargetGroup": ("target-group", "delete", "TargetGroupArn"),
    "ModifyTargetGroup": ("target-group", "update", "TargetGroupArn"),
    "ModifyTargetGroupAttributes": ("target-group", "update", "TargetGroupArn"),
    "RegisterTargets": ("target-group", "update", "TargetGroupArn"),
    "DeregisterTargets": ("target-group", "update", "TargetGroupArn"),
    "CreateListener": ("listener", "create", None),
    "ModifyListener": ("listener", "update", "ListenerArn"),
    "DeleteListener": ("listener", "delete", "ListenerArn"),
    "AddListenerCertificates": ("listener", "update", "ListenerArn"),
    "RemoveListenerCertificates": ("listener", "update", "ListenerArn"),
    "CreateRule": ("listener-rule", "create", None),
    "ModifyRule": ("listener-rule", "update", "RuleArn"),
    "DeleteRule": ("listener-rule", "delete", "RuleArn"),
}


def _kind_of_arn(arn: str) -> ElbKind:
    if ":targetgroup/" in arn or arn.startswith("planned-arn:targetgroup/"):
        return "target-group"
    if ":listener-rule/" in arn or "listener-rule/" in arn:
        return "listener-rule"
    if ":listener/" in arn or arn.startswith("planned-arn:listener/"):
        return "listener"
    return "load-balancer"


def _groups(ids: Iterable[Any], sg_names: Mapping[str, str]) -> str:
    return "[" + ", ".join(describe_group(str(g), sg_names) for g in ids) + "]"


def _details(
    call: PlannedCall, outcome: PlanOutcome, names: Mapping[str, str], sg_names: Mapping[str, str]
) -> list[str]:
    p = call.params
    op = call.operation
    if op == "CreateLoadBalancer":
        lines = [f"type: {p.get('Type')}", f"scheme: {p.get('Scheme')}"]
        if "SecurityGroups" in p:
            lines.append(f"security groups: {_groups(p['SecurityGroups'], sg_names)}")
        return [*lines, f"subnets: {', '.join(map(str, p.get('Subnets') or ()))}"]
    if op == "SetSecurityGroups":
        old = (outcome.load_balancers.get(str(p["LoadBalancerArn"])) or {}).get("SecurityGroups") or ()
        return [f"security groups: {_groups(old, sg_names)} -> {_groups(p['SecurityGroups'], sg_names)}"]
    if op == "CreateTargetGroup":
        return [f"{p.get('Protocol')}:{p.get('Port')} targets: {p.get('TargetType')}"]
    if op in ("CreateRule", "ModifyRule"):
        lines = [
            f"if {_conditions(p.get('Conditions') or ())}",
            f"then {_actions(p.get('Actions') or (), names)}",
        ]
        was = outcome.listener_rules.get(str(p.get("RuleArn")))
        if op == "ModifyRule" and was is not None:
            lines = [f"~ {lines[0]}  (was: if {_conditions(was.get('Conditions') or ())})"]
            lines.append(
                f"~ then {_actions(p.get('Actions') or (), names)}  (was: {_actions(was.get('Actions') or (), names)})"
            )
        return lines
    if op in ("CreateListener", "ModifyListener"):
        lines = [
            f"{key.lower()}: {p[key]}" for key in ("Protocol", "Port") if key in p and op == "ModifyListener"
        ]
        if "DefaultActions" in p:
            lines.append(f"default: {_actions(p['DefaultActions'], names)}")
        lines += [f"certificate: {c['CertificateArn']}" for c in p.get("Certificates") or ()]
        if "SslPolicy" in p:
            lines.append(f"ssl policy: {p['SslPolicy']}")
        lines += [f"alpn policy: {policy}" for policy in p.get("AlpnPolicy") or ()]
        return lines
    if op in ("AddListenerCertificates", "RemoveListenerCertificates"):
        symbol = "+" if op == "AddListenerCertificates" else "-"
        return [f"{symbol} certificate {c['CertificateArn']}" for c in p.get("Certificates") or ()]
    if op in ("RegisterTargets", "DeregisterTargets"):
        symbol = "+" if op == "RegisterTargets" else "-"
        return [f"{symbol} target {t['Id']}:{t.get('Port')}" for t in p.get("Targets") or ()]
    if op == "AddTags":
        return [f"+ tag {t['Key']} = {t.get('Value', '')}" for t in p.get("Tags") or ()]
    if op == "RemoveTags":
        return [f"- tag {key}" for key in p.get("TagKeys") or ()]
    if op.startswith(("Delete", "Create")):
        return []
    shown = {k: v for k, v in p.items() if not k.endswith("Arn") and k != "ResourceArns"}
    return [f"{op}: {shown}" if shown else op]


def _conditions(conditions: Iterable[Mapping[str, Any]]) -> str:
    """``path-pattern [/api, /api/*] and host-header [a.example.com]``; ``always`` when none."""
    shown = []
    for condition in conditions:
        config = next(
            (v for k, v in condition.items() if k.endswith("Config") and isinstance(v, Mapping)), {}
        )
        values = [
            # query-string values are key/value pairs (the key may be absent)
            f"{v['Key']}={v.get('Value', '')}"
            if isinstance(v, Mapping) and v.get("Key")
            else str(v.get("Value", ""))
            if isinstance(v, Mapping)
            else str(v)
            for v in config.get("Values") or condition.get("Values") or ()
        ]
        values += [f"regex {v}" for v in config.get("RegexValues") or ()]
        header = f" {config['HttpHeaderName']}" if config.get("HttpHeaderName") else ""
        shown.append(f"{condition.get('Field')}{header} [{', '.join(values)}]")
    return " and ".join(shown) or "always"


def _actions(actions: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> str:
    """``forward to <target group>``, ``fixed-response 404``, ``redirect to HTTPS:443``..."""

    def group(arn: Any) -> str:
        name = names.get(str(arn), str(arn))
        return f"{name} (new)" if is_planned_id(str(arn)) else name

    shown = []
    for action in actions:
        kind = str(action.get("Type"))
        if kind == "forward":
            targets = (
                [(action["TargetGroupArn"], None)]
                if action.get("TargetGroupArn")
                else [
                    (t.get("TargetGroupArn"), t.get("Weight"))
                    for t in (action.get("ForwardConfig") or {}).get("TargetGroups") or ()
                ]
            )
            shown.append(
                "forward to "
                + ", ".join(group(a) + (f" (weight {w})" if w is not None else "") for a, w in targets)
            )
        elif kind == "fixed-response":
            shown.append(f"fixed-response {(action.get('FixedResponseConfig') or {}).get('StatusCode')}")
        elif kind == "redirect":
            config = action.get("RedirectConfig") or {}
            shown.append(
                f"redirect to {config.get('Protocol', '#{protocol}')}:{config.get('Port', '#{port}')}"
            )
        else:
            shown.append(kind)
    return ", then ".join(shown) or "nothing"


def resource_names(outcome: PlanOutcome) -> dict[str, str]:
    """ARN → what a person calls it: the LB or target group name, ``HTTP:80 on <lb>`` for a
    listener, ``priority 3 on HTTP:80 on <lb>`` for a rule; new resources included."""
    names = {arn: str(lb.get("LoadBalancerName") or arn) for arn, lb in outcome.load_balancers.items()}
    names.update({arn: str(tg.get("TargetGroupName") or arn) for arn, tg in outcome.target_groups.items()})

    def listener(protocol: Any, port: Any, lb_arn: Any) -> str:
        return f"{protocol}:{port} on {names.get(str(lb_arn), str(lb_arn))}"

    def rule(priority: Any, listener_arn: Any) -> str:
        return f"priority {priority} on {names.get(str(listener_arn), str(listener_arn))}"

    for arn, found in outcome.listeners.items():
        names[arn] = listener(found.get("Protocol"), found.get("Port"), found.get("LoadBalancerArn"))
    for arn, found in outcome.listener_rules.items():
        listener_arn = next(
            (
                a
                for a, li in outcome.listeners.items()
                if arn.startswith(a.replace(":listener/", ":listener-rule/"))
            ),
            "",
        )
        names[arn] = (
            rule(found.get("Priority"), listener_arn) if listener_arn else f"priority {found.get('Priority')}"
        )
    for call in outcome.calls:
        if call.service != "elbv2" or call.result_id is None:
            continue
        p = call.params
        if call.operation == "CreateListener":
            names[call.result_id] = listener(p.get("Protocol"), p.get("Port"), p.get("LoadBalancerArn"))
        elif call.operation == "CreateRule":
            names[call.result_id] = rule(p.get("Priority"), p.get("ListenerArn"))
        else:
            names[call.result_id] = str(p.get("Name") or call.result_id)
    return names


def _resources(outcome: PlanOutcome, sg_names: Mapping[str, str]) -> tuple[ResourcePlan, ...]:
    names = resource_names(outcome)
    drafts: dict[str, tuple[ElbKind, Action, list[str], list[str]]] = {}
    for call in outcome.calls:
        if call.service != "elbv2":
            continue
        if call.operation in ("AddTags", "RemoveTags"):
            arns = [str(a) for a in call.params.get("ResourceArns") or ()]
            resource_id = arns[0] if arns else ""
            kind: ElbKind = _kind_of_arn(resource_id)
            action: Action = "update"
        else:
            kind, action, id_param = _ELBV2.get(call.operation, ("load-balancer", "update", None))
            resource_id = call.result_id or (str(call.params.get(id_param, "")) if id_param else "")
        current = drafts.get(resource_id)
        if current is None:
            current = (kind, action, [], [])
            drafts[resource_id] = current
        elif action != "update":
            current = (current[0], action, current[2], current[3])
            drafts[resource_id] = current
        current[2].extend(_details(call, outcome, names, sg_names))
        current[3].append(call.operation)
    order = {"load-balancer": 0, "listener": 1, "listener-rule": 2, "target-group": 3}
    plans = [
        ResourcePlan(kind, action, rid, names.get(rid, rid), tuple(details), tuple(ops))
        for rid, (kind, action, details, ops) in drafts.items()
    ]
    return tuple(sorted(plans, key=lambda p: (order[p.kind], p.name, p.resource_id)))


def build_plan(outcome: PlanOutcome) -> Plan:
    sg_names = {gid: info.group_name for gid, info in outcome.security_groups.items()}
    return Plan(
        security_groups=_security_groups(outcome, sg_names),
        resources=_resources(outcome, sg_names),
        calls=outcome.calls,
        warnings=outcome.warnings,
        notes=outcome.notes,
        sg_names=sg_names,
    )
