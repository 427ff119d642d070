"""Rendering a ``LeakReport`` (and what ``--apply`` did) for people (tables) and machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from controller.gc.apply import Removal, describe_stack
from controller.gc.finder import LeakedElbv2Resource, LeakedRule, LeakedSecurityGroup, LeakReport
from controller.gc.owners import source_of
from controller.naming import StackTags
from controller.networking.rules import Rule

BACKEND_SG_NOTE = "backend SG: no load balancer uses it"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _owner(stack: StackTags | None) -> str:
    return BACKEND_SG_NOTE if stack is None else describe_stack(stack)


def _rule_text(rule: Rule) -> str:
    return str(rule.with_description(""))


def render_text(report: LeakReport, *, cluster_name: str, vpc_id: str) -> str:
    lines = [f"Leaked resources of cluster {cluster_name} in {vpc_id}:"]
    sections: list[tuple[str, list[list[str]]]] = [
        (
            "Security groups",
            [["ID", "NAME", "OWNER (NONE LIVE)"]]
            + [[g.group_id, g.name, _owner(g.stack)] for g in report.security_groups],
        ),
        (
            "Load balancers",
            [["NAME", "OWNER (NONE LIVE)", "ARN"]]
            + [[r.name, describe_stack(r.stack), r.arn] for r in report.load_balancers],
        ),
        (
            "Target groups",
            [["NAME", "OWNER (NONE LIVE)", "ARN"]]
            + [[r.name, describe_stack(r.stack), r.arn] for r in report.target_groups],
        ),
        (
            "Labelled rules (elbv2.k8s.aws/targetGroupBinding=shared)",
            [["SECURITY GROUP", "RULE", "WHY"]]
            + [[r.group_id, _rule_text(r.rule), r.reason] for r in report.rules],
        ),
    ]
    for title, rows in sections:
        count = len(rows) - 1
        lines.append("")
        lines.append(f"{title}: {count}")
        if count:
            lines.extend(_table(rows))
    counts = report.counts()
    lines.append("")
    lines.append(
        "No leaks."
        if report.is_empty
        else f"{sum(counts.values())} leaked: {counts['security_groups']} security group(s), "
        f"{counts['load_balancers']} load balancer(s), {counts['target_groups']} target group(s), "
        f"{counts['rules']} rule(s)."
    )
    return "\n".join(lines) + "\n"


def render_removals_text(removals: Sequence[Removal]) -> str:
    if not removals:
        return "Nothing to remove.\n"
    lines = ["", "Removed with --apply:"]
    for removal in removals:
        lines.append(f"  {removal.status.upper():8} {removal.kind} {removal.target}")
        lines.extend(f"           - {item}" for item in removal.removed)
        if removal.detail:
            lines.append(f"           {removal.detail}")
    return "\n".join(lines) + "\n"


def _stack_json(stack: StackTags | None) -> dict[str, str] | None:
    if stack is None:
        return None
    return {"prefix": stack.prefix, "stackID": stack.stack_id}


def _sg_json(group: LeakedSecurityGroup) -> dict[str, Any]:
    return {
        "groupID": group.group_id,
        "name": group.name,
        "kind": "backend" if group.stack is None else "managed",
        "stack": _stack_json(group.stack),
    }


def _elbv2_json(resource: LeakedElbv2Resource) -> dict[str, Any]:
    return {"arn": resource.arn, "name": resource.name, "stack": _stack_json(resource.stack)}


def _rule_json(leak: LeakedRule) -> dict[str, Any]:
    rule = leak.rule
    source = source_of(rule.source)
    return {
        "groupID": leak.group_id,
        "protocol": rule.protocol,
        "fromPort": rule.from_port,
        "toPort": rule.to_port,
        "source": {"kind": str(source.kind), "value": source.value},
        "description": rule.description,
        "reason": leak.reason,
    }


def render_json(
    report: LeakReport, *, cluster_name: str, vpc_id: str, removals: Sequence[Removal] | None = None
) -> str:
    document: dict[str, Any] = {
        "cluster": cluster_name,
        "vpcID": vpc_id,
        "counts": {
            "securityGroups": len(report.security_groups),
            "loadBalancers": len(report.load_balancers),
            "targetGroups": len(report.target_groups),
            "rules": len(report.rules),
        },
        "securityGroups": [_sg_json(g) for g in report.security_groups],
        "loadBalancers": [_elbv2_json(r) for r in report.load_balancers],
        "targetGroups": [_elbv2_json(r) for r in report.target_groups],
        "rules": [_rule_json(r) for r in report.rules],
    }
    if removals is not None:
        document["applied"] = [
            {
                "kind": r.kind,
                "target": r.target,
                "status": r.status,
                "removed": list(r.removed),
                "detail": r.detail,
            }
            for r in removals
        ]
    return json.dumps(document, indent=2) + "\n"
