"""Plan output: grouped per SG and per ELBv2 resource like a Terraform plan, or JSON for machines.

Symbols: ``+`` create / authorize / add a tag, ``-`` delete / revoke / remove a tag, ``~`` change.
Ids of resources that only exist in the plan (``planned-sg-1``, ``planned-arn:...``) stand for
"known after apply": the human output names them by name and ``(new)``, the JSON keeps the id so
that every reference to one new resource is the same string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    Rule,
    SecurityGroupSource,
)
from controller.plan.changes import (
    Plan,
    PortDelta,
    ResourcePlan,
    SecurityGroupPlan,
    describe_group,
    describe_source,
)
from controller.plan.dry_run import is_planned_id

_SYMBOL: Final = {"create": "+", "update": "~", "delete": "-"}
_VERB: Final = {"create": "created", "update": "updated in-place", "delete": "destroyed"}
_KIND_NAME: Final = {
    "load-balancer": "load balancer",
    "target-group": "target group",
    "listener": "listener",
    "listener-rule": "listener rule",
}


# ------------------------------------------------------------------------------------------ human


def _rule_line(symbol: str, rule: Rule, sg_names: Mapping[str, str]) -> str:
    protocol = "all" if rule.protocol == "-1" else rule.protocol
    if rule.from_port is None or rule.protocol == "-1":
        ports = ""
    elif rule.protocol in ("icmp", "icmpv6"):
        ports = f" type {rule.from_port} code {rule.to_port}"
    elif rule.from_port == rule.to_port:
        ports = f" {rule.from_port}"
    else:
        ports = f" {rule.from_port}-{rule.to_port}"
    description = f'  "{rule.description}"' if rule.description else ""
    return f"      {symbol} inbound {protocol}{ports} from {describe_source(rule, sg_names)}{description}"


def _ranges_text(ranges: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges) or "none"


def _delta_line(delta: PortDelta) -> str:
    return (
        f"        ports {delta.protocol} from {delta.source}: "
        f"opens {_ranges_text(delta.opened)}; closes {_ranges_text(delta.closed)}"
    )


def _wide(delta: PortDelta) -> bool:
    return any(low != high for low, high in (*delta.opened, *delta.closed))


def _sg_title(sg: SecurityGroupPlan, sg_names: Mapping[str, str]) -> str:
    return describe_group(sg.group_id, sg_names)


def _security_group_lines(sg: SecurityGroupPlan, sg_names: Mapping[str, str]) -> list[str]:
    title = _sg_title(sg, sg_names)
    lines = [
        f"  # security group {title} will be {_VERB[sg.action]}",
        f"  {_SYMBOL[sg.action]} security group {title}",
    ]
    lines += [f"      + tag {key} = {value}" for key, value in sg.tags_set.items()]
    lines += [f"      - tag {key}" for key in sg.tags_removed]
    lines += [_rule_line("+", rule, sg_names) for rule in sg.authorize]
    lines += [_rule_line("-", rule, sg_names) for rule in sg.revoke]
    # Only where the rules alone do not say it: a repack, or a range wider than one port.
    lines += [_delta_line(d) for d in sg.ports if d.packed and (d.replaced or _wide(d))]
    return lines


def _resource_lines(resource: ResourcePlan) -> list[str]:
    kind = _KIND_NAME[resource.kind]
    name = f"{resource.name} (new)" if is_planned_id(resource.resource_id) else resource.name
    lines = [
        f"  # {kind} {name} will be {_VERB[resource.action]}",
        f"  {_SYMBOL[resource.action]} {kind} {name}",
    ]
    return lines + [f"      {detail}" for detail in resource.details]


def summary(plan: Plan) -> Mapping[str, int]:
    """Counts for the last line and for JSON."""

    def count(action: str, items: tuple[SecurityGroupPlan, ...] | tuple[ResourcePlan, ...]) -> int:
        return sum(1 for item in items if item.action == action)

    counts = {
        f"security_groups_to_{a}": count(a, plan.security_groups) for a in ("create", "update", "delete")
    }
    counts["rules_to_authorize"] = sum(len(sg.authorize) for sg in plan.security_groups)
    counts["rules_to_revoke"] = sum(len(sg.revoke) for sg in plan.security_groups)
    for action in ("create", "update", "delete"):
        counts[f"elbv2_resources_to_{action}"] = count(action, plan.resources)
    return counts


def render_human(plan: Plan, *, cluster_name: str, vpc_id: str) -> str:
    lines = [f"aws-lb-sg-controller plan: cluster {cluster_name}, VPC {vpc_id}", ""]
    if not plan.has_changes:
        lines.append("No changes. AWS matches what the controller would converge to.")
    else:
        lines.append(
            "The controller would make these changes (+ create/authorize, - delete/revoke, ~ update):"
        )
        lines.append("")
        for sg in plan.security_groups:
            lines += [*_security_group_lines(sg, plan.sg_names), ""]
        for resource in plan.resources:
            lines += [*_resource_lines(resource), ""]
        counts = summary(plan)
        lines.append(
            "Plan: security groups: {security_groups_to_create} to create, {security_groups_to_update} to "
            "change, {security_groups_to_delete} to delete; rules: {rules_to_authorize} to authorize, "
            "{rules_to_revoke} to revoke; ELBv2 resources: {elbv2_resources_to_create} to create, "
            "{elbv2_resources_to_update} to change, {elbv2_resources_to_delete} to delete.".format(**counts)
        )
    if plan.warnings:
        lines += [
            "",
            "Warnings (the controller would post these as Warning events and change nothing for them):",
        ]
        lines += [f"  ! {w.subject}: {w.message}" for w in plan.warnings]
    if plan.notes:
        lines += ["", "Notes:"]
        lines += [f"  * {n.subject}: {n.message}" for n in plan.notes]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ JSON


def _source_json(rule: Rule, sg_names: Mapping[str, str]) -> dict[str, str]:
    match rule.source:
        case SecurityGroupSource(group_id=group_id):
            return {"security_group": group_id, "security_group_name": sg_names.get(group_id, "")}
        case Ipv4CidrSource(cidr=cidr):
            return {"cidr": cidr}
        case Ipv6CidrSource(cidr=cidr):
            return {"ipv6_cidr": cidr}
        case PrefixListSource(prefix_list_id=prefix_list_id):
            return {"prefix_list": prefix_list_id}
    return {"other": str(rule.source)}


def rule_json(rule: Rule, sg_names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "source": _source_json(rule, sg_names),
        "description": rule.description,
    }


def plan_json(plan: Plan, *, cluster_name: str, vpc_id: str) -> dict[str, Any]:
    names = plan.sg_names
    return {
        "cluster": cluster_name,
        "vpc_id": vpc_id,
        "changes": plan.has_changes,
        "summary": dict(summary(plan)),
        "security_group_names": dict(sorted(names.items())),
        "security_groups": [
            {
                "action": sg.action,
                "id": sg.group_id,
                "new": is_planned_id(sg.group_id),
                "name": sg.name,
                "vpc_id": sg.vpc_id,
                "tags": {"set": dict(sg.tags_set), "remove": list(sg.tags_removed)},
                "rules": {
                    "authorize": [rule_json(r, names) for r in sg.authorize],
                    "revoke": [rule_json(r, names) for r in sg.revoke],
                },
                "ports": [
                    {
                        "protocol": d.protocol,
                        "source": d.source,
                        "opened": [list(r) for r in d.opened],
                        "closed": [list(r) for r in d.closed],
                    }
                    for d in sg.ports
                ],
            }
            for sg in plan.security_groups
        ],
        "elbv2": [
            {
                "kind": r.kind,
                "action": r.action,
                "id": r.resource_id,
                "new": is_planned_id(r.resource_id),
                "name": r.name,
                "details": list(r.details),
                "operations": list(r.operations),
            }
            for r in plan.resources
        ],
        "calls": [
            {"service": c.service, "operation": c.operation, "params": c.params, "result_id": c.result_id}
            for c in plan.calls
        ],
        "warnings": [{"object": w.subject, "message": w.message} for w in plan.warnings],
        "notes": [{"object": n.subject, "message": n.message} for n in plan.notes],
    }


def render_json(plan: Plan, *, cluster_name: str, vpc_id: str) -> str:
    return json.dumps(plan_json(plan, cluster_name=cluster_name, vpc_id=vpc_id), indent=2, default=str) + "\n"
