"""The ``--once`` summary: every SG of the VPC, ours first, one row per rule as AWS counts rules."""

from __future__ import annotations

import io

from rich.console import Console

from controller.aws.ec2_types import GroupPair, IpPermission, IpRange, SecurityGroup
from controller.sandbox.summary import security_group_table


def group(group_id: str, name: str, tags: dict[str, str], *permissions: IpPermission) -> SecurityGroup:
    return SecurityGroup(
        group_id=group_id,
        group_name=name,
        vpc_id="vpc-1",
        description="",
        tags=tags,
        ip_permissions=permissions,
    )


def rendered(groups: list[SecurityGroup]) -> list[list[str]]:
    out = io.StringIO()
    Console(file=out, width=1000).print(security_group_table(groups, {"sg-node"}, "c1"))
    return [line.split() for line in out.getvalue().splitlines()[4:] if line.strip()]


def test_every_sg_with_one_row_per_rule_ours_first() -> None:
    groups = [
        group("sg-default", "default", {}),
        group(
            "sg-node",
            "c1-nodes",
            {"kubernetes.io/cluster/c1": "owned"},
            IpPermission("tcp", 30000, 30000, group_pairs=(GroupPair("sg-backend", description="shared"),)),
            IpPermission("tcp", 0, 65535, group_pairs=(GroupPair("sg-clients"),)),
        ),
        group(
            "sg-front",
            "k8s-default-echo",
            {"elbv2.k8s.aws/cluster": "c1"},
            IpPermission("tcp", 80, 80, ipv4_ranges=(IpRange("10.0.0.0/8"), IpRange("192.168.0.0/16"))),
        ),
        group("sg-backend", "k8s-traffic-c1", {"elbv2.k8s.aws/cluster": "c1"}),
        group("sg-other-cluster", "k8s-other", {"elbv2.k8s.aws/cluster": "c2"}),
    ]
    assert rendered(groups) == [
        ["sg-front", "k8s-default-echo", "ours", "tcp", "80", "10.0.0.0/8"],
        ["tcp", "80", "192.168.0.0/16"],
        ["sg-backend", "k8s-traffic-c1", "ours", "-", "-", "(no", "inbound", "rules)"],
        ["sg-node", "c1-nodes", "node", "tcp", "30000", "sg-backend", "(k8s-traffic-c1)", "shared"],
        ["tcp", "all", "sg-clients", "(?)"],
        ["sg-default", "default", "other", "-", "-", "(no", "inbound", "rules)"],
        ["sg-other-cluster", "k8s-other", "other", "-", "-", "(no", "inbound", "rules)"],
    ]
