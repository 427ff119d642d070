"""``find_leaks``: only resources carrying our marks, and only when no live object owns them."""

from __future__ import annotations

from controller.aws.elbv2_types import LoadBalancer, TargetGroup
from controller.deploy.elbv2_tags import TaggedResource
from controller.endpointsg.model import Source, SourceKind
from controller.gc.finder import SOURCE_MISSING, SOURCE_UNNEEDED, find_leaks
from controller.gc.inventory import AwsInventory
from controller.gc.owners import LiveOwners
from controller.naming import (
    INGRESS_TAG_PREFIX,
    MANAGED_SG_RESOURCE_ID,
    SERVICE_TAG_PREFIX,
    TGB_RULE_DESCRIPTION,
    StackTags,
    backend_sg_tags,
)
from controller.networking.rules import Ipv4CidrSource, Rule, SecurityGroupSource
from controller.networking.sg_info import SecurityGroupInfo

CLUSTER = "c"
LIVE = StackTags(CLUSTER, SERVICE_TAG_PREFIX, "ns/live")
GONE_INGRESS = StackTags(CLUSTER, INGRESS_TAG_PREFIX, "ns/gone")
GONE_SERVICE = StackTags(CLUSTER, SERVICE_TAG_PREFIX, "ns/gone")
OTHER_CLUSTER = StackTags("other", INGRESS_TAG_PREFIX, "ns/gone")
GATEWAY = StackTags(CLUSTER, "gateway.k8s.aws.alb", "ns/gw")  # owned by objects we do not read


def group(group_id: str, tags: dict[str, str], *rules: Rule) -> SecurityGroupInfo:
    return SecurityGroupInfo(group_id, f"name-{group_id}", "vpc-1", "", tags, tuple(rules))


def labelled(port: int, source: Ipv4CidrSource | SecurityGroupSource) -> Rule:
    return Rule.of("tcp", port, port, source, TGB_RULE_DESCRIPTION)


def load_balancer(arn: str, tags: dict[str, str], *security_groups: str) -> TaggedResource[LoadBalancer]:
    description = LoadBalancer(arn, arn, "network", "internal", "dns", "vpc-1", "ipv4", security_groups, ())
    return TaggedResource(arn, description, tags)


def target_group(arn: str, tags: dict[str, str]) -> TaggedResource[TargetGroup]:
    return TaggedResource(arn, TargetGroup.from_aws({"TargetGroupArn": arn, "TargetGroupName": arn}), tags)


def test_each_kind_of_leak_is_found_and_nothing_else() -> None:
    node_rules = (
        labelled(30001, SecurityGroupSource("sg-backend")),  # the live binding's rule
        labelled(30002, SecurityGroupSource("sg-deleted")),  # its source is gone
        labelled(30003, SecurityGroupSource("sg-foreign")),  # nobody names sg-foreign
        labelled(30004, Ipv4CidrSource("10.0.0.0/8")),  # nor this CIDR
        labelled(30005, Ipv4CidrSource("192.168.0.0/16")),  # a binding names this one
        Rule.of("tcp", 22, 22, SecurityGroupSource("sg-foreign"), "ops"),  # not ours
    )
    inventory = AwsInventory(
        security_groups=(
            group("sg-live", LIVE.resource_tags(MANAGED_SG_RESOURCE_ID)),
            group("sg-gone-ing", GONE_INGRESS.resource_tags(MANAGED_SG_RESOURCE_ID)),
            group("sg-gone-svc", GONE_SERVICE.resource_tags(MANAGED_SG_RESOURCE_ID)),
            group("sg-other-cluster", OTHER_CLUSTER.resource_tags(MANAGED_SG_RESOURCE_ID)),
            group("sg-gateway", GATEWAY.resource_tags(MANAGED_SG_RESOURCE_ID)),
            group("sg-backend", backend_sg_tags(CLUSTER)),
            group("sg-backend-2", backend_sg_tags(CLUSTER)),
            group("sg-foreign", {"Name": "foreign"}),
            group("sg-nodes", {"kubernetes.io/cluster/c": "owned"}, *node_rules),
        ),
        load_balancers=(
            load_balancer("lb-live", LIVE.resource_tags("LoadBalancer"), "sg-live", "sg-backend"),
            load_balancer("lb-gone", GONE_SERVICE.resource_tags("LoadBalancer"), "sg-gone-svc"),
            load_balancer("lb-foreign", {}),
            load_balancer("lb-gateway", GATEWAY.resource_tags("LoadBalancer")),
        ),
        target_groups=(
            target_group("tg-live", LIVE.resource_tags("ns/live:80")),
            target_group("tg-gone", GONE_SERVICE.resource_tags("ns/gone:80")),
            target_group("tg-untagged", {}),
        ),
        missing_source_groups=frozenset({"sg-deleted"}),
    )
    owners = LiveOwners(
        stacks=frozenset({LIVE}),
        rule_sources=frozenset(
            {Source.security_group("sg-backend"), Source(SourceKind.IPV4_CIDR, "192.168.0.0/16")}
        ),
    )

    report = find_leaks(inventory, owners, cluster_name=CLUSTER)

    assert [(g.group_id, g.stack) for g in report.security_groups] == [
        ("sg-gone-ing", GONE_INGRESS),
        ("sg-gone-svc", GONE_SERVICE),
        ("sg-backend-2", None),
    ]
    assert [(r.arn, r.stack) for r in report.load_balancers] == [("lb-gone", GONE_SERVICE)]
    assert [(r.arn, r.stack) for r in report.target_groups] == [("tg-gone", GONE_SERVICE)]
    assert [(r.group_id, r.rule.from_port, r.reason) for r in report.rules] == [
        ("sg-nodes", 30002, SOURCE_MISSING),
        ("sg-nodes", 30003, SOURCE_UNNEEDED),
        ("sg-nodes", 30004, SOURCE_UNNEEDED),
    ]
    assert set(report.stacks) == {GONE_INGRESS, GONE_SERVICE}
    assert report.counts() == {"security_groups": 3, "load_balancers": 1, "target_groups": 1, "rules": 3}


def test_a_backend_sg_named_by_a_binding_or_given_by_flag_is_not_leaked() -> None:
    inventory = AwsInventory(
        security_groups=(group("sg-b1", backend_sg_tags(CLUSTER)), group("sg-b2", backend_sg_tags(CLUSTER))),
        load_balancers=(),
        target_groups=(),
        missing_source_groups=frozenset(),
    )
    owners = LiveOwners(frozenset(), frozenset({Source.security_group("sg-b1")}))
    report = find_leaks(inventory, owners, cluster_name=CLUSTER, custom_backend_sg="sg-b2")
    assert report.is_empty


def test_a_legacy_tagged_sg_of_a_gone_stack_is_leaked_and_one_of_a_live_stack_is_not() -> None:
    legacy = {"ingress.k8s.aws/cluster": CLUSTER, "ingress.k8s.aws/resource": MANAGED_SG_RESOURCE_ID}
    inventory = AwsInventory(
        security_groups=(
            group("sg-old-live", {**legacy, "ingress.k8s.aws/stack": "ns/live"}),
            group("sg-old-gone", {**legacy, "ingress.k8s.aws/stack": "ns/gone"}),
        ),
        load_balancers=(),
        target_groups=(),
        missing_source_groups=frozenset(),
    )
    owners = LiveOwners(frozenset({StackTags(CLUSTER, INGRESS_TAG_PREFIX, "ns/live")}), frozenset())
    report = find_leaks(inventory, owners, cluster_name=CLUSTER)
    assert [g.group_id for g in report.security_groups] == ["sg-old-gone"]
    assert report.stacks == (GONE_INGRESS,)
