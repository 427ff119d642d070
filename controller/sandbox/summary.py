"""The ``--once`` summary: every security group of the sandbox VPC and its inbound rules."""

from __future__ import annotations

from collections.abc import Mapping

from rich import box
from rich.table import Table

from controller.aws.ec2_types import IpPermission, SecurityGroup
from controller.naming import TAG_CLUSTER


def ports_of(permission: IpPermission) -> str:
    if permission.protocol == "-1":
        return "all"
    if permission.from_port is None or (permission.from_port, permission.to_port) == (0, 65535):
        return "all"
    if permission.from_port == permission.to_port:
        return str(permission.from_port)
    return f"{permission.from_port}-{permission.to_port}"


def rule_rows(permission: IpPermission, names: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    """(protocol, ports, source, description): one row per source, as AWS counts rules."""
    protocol = "all" if permission.protocol == "-1" else permission.protocol
    ports = ports_of(permission)
    rows = [(protocol, ports, r.cidr, r.description) for r in permission.ipv4_ranges]
    rows += [(protocol, ports, r.cidr, r.description) for r in permission.ipv6_ranges]
    rows += [(protocol, ports, p.prefix_list_id, p.description) for p in permission.prefix_lists]
    rows += [
        (protocol, ports, f"{g.group_id} ({names.get(g.group_id, '?')})", g.description)
        for g in permission.group_pairs
    ]
    return rows


ROLES = ("ours", "node", "other")
"""Ours (tagged for the cluster), the node SGs, the rest of the VPC; the summary's order."""


def role_of(group: SecurityGroup, node_security_groups: set[str], cluster_name: str) -> str:
    if group.group_id in node_security_groups:
        return "node"
    if group.tags.get(TAG_CLUSTER) == cluster_name:
        return "ours"
    return "other"


def security_group_table(
    groups: list[SecurityGroup], node_security_groups: set[str], cluster_name: str
) -> Table:
    names = {g.group_id: g.group_name for g in groups}
    table = Table(title="Security groups and their inbound rules", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("security group", "name", "role", "protocol", "ports", "source", "description"):
        table.add_column(column, overflow="fold")

    def order(group: SecurityGroup) -> tuple[int, str]:
        return (ROLES.index(role_of(group, node_security_groups, cluster_name)), group.group_name)

    for group in sorted(groups, key=order):
        rows = [row for p in group.ip_permissions for row in rule_rows(p, names)]
        head = (group.group_id, group.group_name, role_of(group, node_security_groups, cluster_name))
        if not rows:
            table.add_row(*head, "-", "-", "(no inbound rules)", "")
        for index, row in enumerate(sorted(rows)):
            table.add_row(*(head if index == 0 else ("", "", "")), *row)
    return table
