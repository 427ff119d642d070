"""Look-ups and comparisons the deployer relies on: action/condition equivalence, subnet
resolution and resources we cannot attribute."""

from __future__ import annotations

import asyncio

import pytest
from deploy_factories import DeployerFactory, build_alb_model, ingress

from controller.aws.api import AwsApi
from controller.aws.elbv2_types import ListenerAction, RuleCondition
from controller.deploy import SubnetResolutionError, UnexpectedResourceError
from controller.deploy.listeners import action_key, condition_key
from controller.deploy.subnets import SubnetResolver, VpcSubnets
from controller.model import SubnetSelector
from controller.model.load_balancer import Scheme
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.clock import FakeClock


def test_equivalent_action_spellings_compare_equal() -> None:
    plain = ListenerAction.forward("tg-1")
    described = ListenerAction.from_aws(
        {
            "Type": "forward",
            "TargetGroupArn": "tg-1",
            "Order": 1,
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "tg-1", "Weight": 1}]},
        }
    )
    assert action_key(plain) == action_key(described)
    assert action_key(plain) != action_key(ListenerAction.forward("tg-2"))
    fixed = ListenerAction.from_aws(
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}
    )
    assert action_key(fixed) == action_key(ListenerAction.fixed("404", "text/plain"))
    assert action_key(fixed) != action_key(ListenerAction.fixed("503", "text/plain"))


def test_condition_values_and_config_block_compare_equal() -> None:
    config = RuleCondition.from_aws(
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a/*", "/a"]}}
    )
    both = RuleCondition.from_aws(
        {
            "Field": "path-pattern",
            "Values": ["/a", "/a/*"],
            "PathPatternConfig": {"Values": ["/a", "/a/*"]},
        }
    )
    assert condition_key(config) == condition_key(both) == ("path-pattern", "", ("/a", "/a/*"), (), ())
    assert condition_key(config) != condition_key(
        RuleCondition.from_aws({"Field": "path-pattern", "Values": ["/b"]})
    )


async def _subnet(api: AwsApi, vpc: SandboxVpc, cidr: str, zone: str, tags: dict[str, str]) -> str:
    created = await api.call(
        "ec2",
        "CreateSubnet",
        VpcId=vpc.vpc_id,
        CidrBlock=cidr,
        AvailabilityZone=f"{vpc.region}{zone}",
        TagSpecifications=[
            {"ResourceType": "subnet", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )
    return str(created["Subnet"]["SubnetId"])


async def test_subnet_discovery_picks_one_usable_subnet_per_zone(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    role, ours = "kubernetes.io/role/internal-elb", f"kubernetes.io/cluster/{sandbox_vpc.cluster_name}"
    untagged_a = await _subnet(aws_api, sandbox_vpc, "10.0.10.0/24", "a", {role: "1"})
    tagged_a = await _subnet(aws_api, sandbox_vpc, "10.0.11.0/24", "a", {role: "1", ours: "owned"})
    untagged_b = await _subnet(aws_api, sandbox_vpc, "10.0.12.0/24", "b", {role: ""})
    await _subnet(
        aws_api, sandbox_vpc, "10.0.13.0/24", "c", {role: "1", "kubernetes.io/cluster/other": "owned"}
    )
    await _subnet(aws_api, sandbox_vpc, "10.0.14.0/24", "d", {role: "1", ours: "unexpected"})
    await _subnet(aws_api, sandbox_vpc, "10.0.15.0/24", "c", {ours: "shared"})  # no role tag
    selector = SubnetSelector.for_scheme((), Scheme.INTERNAL, sandbox_vpc.cluster_name)

    subnets = await SubnetResolver(aws_api, sandbox_vpc.vpc_id).resolve(selector)

    # Zone a prefers the subnet tagged for our cluster; c and d have nothing usable.
    assert [s.subnet_id for s in subnets] == sorted([tagged_a, untagged_b])
    assert untagged_a not in [s.subnet_id for s in subnets]
    assert {s.ipv4_cidr for s in subnets} == {"10.0.11.0/24", "10.0.12.0/24"}


async def test_ingress_class_params_subnet_tags_select_like_ec2_tag_filters(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    """``subnets.tags``: every key present with one of its values (no role tag needed), the cluster
    tag check and one subnet per zone as discovery; an empty filter set takes any VPC subnet."""
    ours = f"kubernetes.io/cluster/{sandbox_vpc.cluster_name}"
    blue_a = await _subnet(aws_api, sandbox_vpc, "10.0.30.0/24", "a", {"tier": "blue", "env": "prod"})
    green_b = await _subnet(
        aws_api, sandbox_vpc, "10.0.31.0/24", "b", {"tier": "green", "env": "prod", ours: "shared"}
    )
    await _subnet(aws_api, sandbox_vpc, "10.0.32.0/24", "c", {"tier": "blue"})  # no env tag
    await _subnet(
        aws_api, sandbox_vpc, "10.0.33.0/24", "d", {"tier": "red", "env": "prod"}
    )  # tier not listed
    await _subnet(
        aws_api,
        sandbox_vpc,
        "10.0.34.0/24",
        "c",
        {"tier": "blue", "env": "prod", "kubernetes.io/cluster/x": "owned"},
    )
    resolver = SubnetResolver(aws_api, sandbox_vpc.vpc_id)
    cluster = sandbox_vpc.cluster_name
    filters = (("env", ("prod",)), ("tier", ("blue", "green")))

    found = await resolver.resolve(SubnetSelector.for_scheme((), Scheme.INTERNAL, cluster, filters))

    assert [s.subnet_id for s in found] == sorted([blue_a, green_b])
    with pytest.raises(SubnetResolutionError, match=r"matches the IngressClassParams subnets\.tags"):
        await resolver.resolve(
            SubnetSelector.for_scheme((), Scheme.INTERNAL, cluster, (("tier", ("none",)),))
        )
    everything = await resolver.resolve(SubnetSelector.for_scheme((), Scheme.INTERNAL, cluster, ()))
    zones = [s.availability_zone for s in everything]
    assert len(zones) == len(set(zones)) and {"a", "b", "c", "d"} <= {zone[-1] for zone in zones}
    assert "10.0.34.0/24" not in {s.ipv4_cidr for s in everything}  # another cluster's


async def test_explicit_subnets_resolve_by_id_and_name_tag_or_fail(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    named = await _subnet(aws_api, sandbox_vpc, "10.0.20.0/24", "c", {"Name": "edge"})
    resolver = SubnetResolver(aws_api, sandbox_vpc.vpc_id)
    cluster = sandbox_vpc.cluster_name

    found = await resolver.resolve(
        SubnetSelector.for_scheme((sandbox_vpc.subnet_ids[0], "edge"), Scheme.INTERNET_FACING, cluster)
    )
    assert [s.subnet_id for s in found] == sorted([sandbox_vpc.subnet_ids[0], named])

    with pytest.raises(SubnetResolutionError, match="missing names \\[nowhere\\]"):
        await resolver.resolve(
            SubnetSelector.for_scheme(("edge", "nowhere"), Scheme.INTERNET_FACING, cluster)
        )
    with pytest.raises(SubnetResolutionError, match="couldn't find all subnets"):
        await resolver.resolve(
            SubnetSelector.for_scheme(("subnet-0123456789abcdef0",), Scheme.INTERNET_FACING, cluster)
        )


async def test_subnet_resolutions_share_one_read_of_the_vpc_for_its_max_age(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    clock = FakeClock()
    resolver = SubnetResolver(
        aws_api, sandbox_vpc.vpc_id, subnets=VpcSubnets(aws_api, sandbox_vpc.vpc_id, clock=clock, max_age=10)
    )
    discover = SubnetSelector.for_scheme((), Scheme.INTERNET_FACING, sandbox_vpc.cluster_name)
    aws_proxy.reset_counts()

    # Concurrent resolutions (as at a cold start) and later ones within the max age: one read.
    answers = await asyncio.gather(*(resolver.resolve(discover) for _ in range(5)))
    clock.advance(9)
    answers.append(await resolver.resolve(discover))
    assert aws_proxy.calls_by_operation()["DescribeSubnets"] == 1
    assert all(a == answers[0] for a in answers) and answers[0]

    clock.advance(1)
    await resolver.resolve(discover)
    assert aws_proxy.calls_by_operation()["DescribeSubnets"] == 2

    # A subnet named a moment ago is not in the snapshot: one fresh read finds it, no error.
    named = await _subnet(aws_api, sandbox_vpc, "10.0.30.0/24", "a", {"Name": "just-made"})
    explicit = SubnetSelector.for_scheme(("just-made",), Scheme.INTERNET_FACING, sandbox_vpc.cluster_name)
    assert [s.subnet_id for s in await resolver.resolve(explicit)] == [named]
    assert aws_proxy.calls_by_operation()["DescribeSubnets"] == 3

    # After a failed deploy the deployer invalidates the snapshot: the next resolution reads.
    resolver.vpc_subnets.invalidate()
    await resolver.resolve(explicit)
    assert aws_proxy.calls_by_operation()["DescribeSubnets"] == 4


async def test_sg_with_stack_tags_but_no_resource_id_stops_the_deploy(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    make_deployer: DeployerFactory,
    backend_sg: str,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
) -> None:
    model = await build_alb_model(ingress())
    stray = await SecurityGroupManager(aws_api, deploy_reader).create(
        name="stray",
        description="stray",
        vpc_id=sandbox_vpc.vpc_id,
        tags=model.stack_tags.tracking_tags(),
    )
    aws_proxy.reset_counts()

    with pytest.raises(UnexpectedResourceError, match=f"no resourceID: {stray}"):
        await make_deployer().deploy(model, backend_sg_id=backend_sg)

    assert {op for op in aws_proxy.calls_by_operation() if not op.startswith("Describe")} == set()


async def test_missing_backend_sg_id_is_refused_before_any_change(
    aws_proxy: AwsProxy, make_deployer: DeployerFactory
) -> None:
    model = await build_alb_model(ingress())
    aws_proxy.reset_counts()

    with pytest.raises(ValueError, match="backend_sg_id"):
        await make_deployer().deploy(model, backend_sg_id=None)

    assert aws_proxy.calls_by_operation() == {}
