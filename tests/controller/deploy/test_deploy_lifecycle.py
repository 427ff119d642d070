"""Switching SG modes, deleting stacks and blocked SG deletions (upstream-behaviour §1.8-§1.10)."""

from __future__ import annotations

import pytest
from deploy_factories import (
    DeployerFactory,
    build_alb_model,
    build_nlb_model,
    describe_sg,
    elbv2_tags,
    ingress,
    lb_service,
    sg_exists,
    stack_leftovers,
    tags_of,
)

from controller.annotations import ING_SECURITY_GROUPS, ING_TAGS
from controller.aws.api import AwsApi
from controller.deploy import DeploymentPending, StackDeployer
from controller.naming import MANAGED_SG_RESOURCE_ID
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


async def create_sg(
    aws_api: AwsApi, reader: SecurityGroupReader, vpc: SandboxVpc, name: str, tags: dict[str, str]
) -> str:
    return await SecurityGroupManager(aws_api, reader).create(
        name=name, description=name, vpc_id=vpc.vpc_id, tags=tags
    )


async def reference_from(aws_api: AwsApi, node_sg: str, source_sg: str) -> None:
    """A rule on ``node_sg`` sourced from ``source_sg``: AWS then refuses to delete ``source_sg``."""
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=node_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 32768,
                "ToPort": 32768,
                "UserIdGroupPairs": [{"GroupId": source_sg}],
            }
        ],
    )


async def test_switch_to_custom_sg_detaches_the_managed_sg_before_deleting_it(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    make_deployer: DeployerFactory,
    backend_sg: str,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
) -> None:
    deployer = make_deployer()
    first = await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    assert first.managed_sg_id is not None
    custom = await create_sg(aws_api, deploy_reader, sandbox_vpc, "custom", {"Name": "custom"})
    aws_proxy.reset_counts()

    second = await deployer.deploy(
        await build_alb_model(ingress(annotations={ING_SECURITY_GROUPS: custom})), backend_sg_id=backend_sg
    )

    # Scenario 51: the LB lets go first; the delete is not refused (the proxy answers
    # DependencyViolation while an LB still uses the SG).
    log = [(r.operation, r.outcome) for r in aws_proxy.request_log]
    assert [entry for entry in log if entry[0] in ("SetSecurityGroups", "DeleteSecurityGroup")] == [
        ("SetSecurityGroups", "forwarded"),
        ("DeleteSecurityGroup", "forwarded"),
    ]
    assert second.managed_sg_id is None
    assert second.deleted.security_group_ids == (first.managed_sg_id,)
    assert not await sg_exists(aws_api, first.managed_sg_id)
    (lb,) = (await aws_api.call("elbv2", "DescribeLoadBalancers", LoadBalancerArns=[second.lb_arn]))[
        "LoadBalancers"
    ]
    assert lb["SecurityGroups"] == [custom]
    assert second.lb_arn == first.lb_arn
    # Custom SGs without backend rule management: the TGB carries no networking (scenario 28).
    assert "networking" not in second.tgb_specs[0]["spec"]


async def test_delete_stack_removes_everything_tagged_for_the_stack(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    model = await build_alb_model(ingress())
    deployed = await deployer.deploy(model, backend_sg_id=backend_sg)
    stack = model.stack_tags
    aws_proxy.reset_counts()

    deleted = await deployer.delete_stack(stack)

    assert deleted.load_balancer_arns == (deployed.lb_arn,)
    assert set(deleted.target_group_arns) == set(deployed.target_group_arns.values())
    assert deleted.security_group_ids == (deployed.managed_sg_id,)
    assert [r.operation for r in aws_proxy.request_log if r.operation.startswith("Delete")] == [
        "DeleteLoadBalancer",
        "DeleteTargetGroup",
        "DeleteSecurityGroup",
    ]
    assert await stack_leftovers(aws_api, stack) == []
    assert await sg_exists(aws_api, backend_sg)  # the shared backend SG is not the stack's
    # Deleting again finds nothing and does nothing.
    assert (await deployer.delete_stack(stack)).is_empty


async def test_blocked_sg_deletion_runs_the_hook_then_asks_for_a_requeue(
    aws_api: AwsApi,
    make_deployer: DeployerFactory,
    backend_sg: str,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
) -> None:
    hook_calls: list[str] = []

    async def hook(group_id: str) -> None:
        hook_calls.append(group_id)

    deployer = make_deployer(on_dependency_violation=hook)
    model = await build_alb_model(ingress())
    deployed = await deployer.deploy(model, backend_sg_id=backend_sg)
    assert deployed.managed_sg_id is not None
    node_sg = await create_sg(aws_api, deploy_reader, sandbox_vpc, "node", {"Name": "node"})
    await reference_from(aws_api, node_sg, deployed.managed_sg_id)

    with pytest.raises(DeploymentPending, match="failed to delete securityGroup") as raised:
        await deployer.delete_stack(model.stack_tags)

    assert hook_calls == [deployed.managed_sg_id]
    assert raised.value.requeue_after == 7.0
    assert raised.value.result is None
    assert await sg_exists(aws_api, deployed.managed_sg_id)
    # Everything before the SG in the deletion order is gone already.
    assert await aws_api.paginate("elbv2", "DescribeLoadBalancers", "LoadBalancers") == []
    assert await aws_api.paginate("elbv2", "DescribeTargetGroups", "TargetGroups") == []


async def test_hook_that_releases_the_last_reference_lets_the_deletion_finish_in_the_same_pass(
    aws_api: AwsApi,
    make_deployer: DeployerFactory,
    backend_sg: str,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
) -> None:
    node_sg = await create_sg(aws_api, deploy_reader, sandbox_vpc, "node", {"Name": "node"})

    async def strip_references(group_id: str) -> None:
        await aws_api.call(
            "ec2",
            "RevokeSecurityGroupIngress",
            GroupId=node_sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 32768,
                    "ToPort": 32768,
                    "UserIdGroupPairs": [{"GroupId": group_id}],
                }
            ],
        )

    deployer = make_deployer(on_dependency_violation=strip_references)
    model = await build_alb_model(ingress())
    deployed = await deployer.deploy(model, backend_sg_id=backend_sg)
    assert deployed.managed_sg_id is not None
    await reference_from(aws_api, node_sg, deployed.managed_sg_id)

    deleted = await deployer.delete_stack(model.stack_tags)

    assert deleted.security_group_ids == (deployed.managed_sg_id,)
    assert not await sg_exists(aws_api, deployed.managed_sg_id)


async def test_blocked_leftover_sg_during_deploy_still_returns_the_converged_result(
    aws_api: AwsApi,
    make_deployer: DeployerFactory,
    backend_sg: str,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
) -> None:
    deployer = make_deployer()
    first = await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    assert first.managed_sg_id is not None
    node_sg = await create_sg(aws_api, deploy_reader, sandbox_vpc, "node", {"Name": "node"})
    await reference_from(aws_api, node_sg, first.managed_sg_id)
    custom = await create_sg(aws_api, deploy_reader, sandbox_vpc, "custom", {"Name": "custom"})

    with pytest.raises(DeploymentPending) as raised:
        await deployer.deploy(
            await build_alb_model(ingress(annotations={ING_SECURITY_GROUPS: custom})),
            backend_sg_id=backend_sg,
        )

    result = raised.value.result
    assert result is not None
    assert result.load_balancer_security_groups == (custom,)
    assert len(result.tgb_specs) == 1
    assert result.deleted.security_group_ids == ()


async def test_existing_managed_sg_is_adopted_and_only_our_tags_are_reconciled(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    make_deployer: DeployerFactory,
    backend_sg: str,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
) -> None:
    model = await build_alb_model(ingress(annotations={ING_TAGS: "team=a"}))
    stack = model.stack_tags
    existing = await create_sg(
        aws_api,
        deploy_reader,
        sandbox_vpc,
        "created-by-an-older-controller",
        {
            **stack.resource_tags(MANAGED_SG_RESOURCE_ID),
            "foo": "bar",
            "team": "b",
            "cost-center": "external",
            f"kubernetes.io/cluster/{sandbox_vpc.cluster_name}": "owned",
        },
    )
    # A tag only AWS itself can set (no caller may use the aws: prefix).
    await aws_proxy.tag_as_aws(existing, {"aws:cloudformation:stack-name": "infra"})
    aws_proxy.reset_counts()

    result = await make_deployer(external_managed_tags=("cost-center",)).deploy(
        model, backend_sg_id=backend_sg
    )

    # Scenario 7: found by tags (not created), foo deleted, team corrected, aws:/external/legacy kept.
    assert result.managed_sg_id == existing
    assert aws_proxy.calls_by_operation()["CreateSecurityGroup"] == 0
    assert tags_of(await describe_sg(aws_api, existing)) == {
        **stack.resource_tags(MANAGED_SG_RESOURCE_ID),
        "team": "a",
        "aws:cloudformation:stack-name": "infra",
        "cost-center": "external",
        f"kubernetes.io/cluster/{sandbox_vpc.cluster_name}": "owned",
    }
    assert (await elbv2_tags(aws_api, result.lb_arn))["team"] == "a"


async def test_legacy_tagged_sg_is_found_too(
    aws_api: AwsApi,
    make_deployer: DeployerFactory,
    backend_sg: str,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
) -> None:
    model = await build_alb_model(ingress())
    stack = model.stack_tags
    legacy = await create_sg(
        aws_api,
        deploy_reader,
        sandbox_vpc,
        "legacy",
        {**stack.legacy_tracking_tags(), "ingress.k8s.aws/resource": MANAGED_SG_RESOURCE_ID},
    )

    result = await make_deployer().deploy(model, backend_sg_id=backend_sg)

    assert result.managed_sg_id == legacy
    # The legacy cluster key is left alone; the current tracking tags are added.
    assert tags_of(await describe_sg(aws_api, legacy)) == {
        **stack.resource_tags(MANAGED_SG_RESOURCE_ID),
        "ingress.k8s.aws/cluster": sandbox_vpc.cluster_name,
    }


async def test_nlb_stack_from_a_service_deploys_and_redeploys_without_changes(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    make_deployer: DeployerFactory,
    backend_sg: str,
    sandbox_vpc: SandboxVpc,
) -> None:
    deployer: StackDeployer = make_deployer()
    model = await build_nlb_model(lb_service())

    result = await deployer.deploy(model, backend_sg_id=backend_sg)

    assert result.managed_sg_id is not None
    managed = await describe_sg(aws_api, result.managed_sg_id)
    assert tags_of(managed)["service.k8s.aws/stack"] == "default/echo"
    (lb,) = (await aws_api.call("elbv2", "DescribeLoadBalancers", LoadBalancerArns=[result.lb_arn]))[
        "LoadBalancers"
    ]
    assert (lb["Type"], lb["SecurityGroups"]) == ("network", [result.managed_sg_id, backend_sg])
    (listener,) = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=result.lb_arn))[
        "Listeners"
    ]
    assert (listener["Port"], listener["Protocol"]) == (80, "TCP")
    (tg_arn,) = result.target_group_arns.values()
    (tg,) = (await aws_api.call("elbv2", "DescribeTargetGroups", TargetGroupArns=[tg_arn]))["TargetGroups"]
    assert (tg["Protocol"], tg["Port"], tg["TargetType"], tg["HealthCheckProtocol"]) == (
        "TCP",
        31080,
        "instance",
        "TCP",
    )
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg_arn
    (tgb,) = result.tgb_specs
    assert tgb["metadata"]["labels"] == {
        "service.k8s.aws/stack-namespace": "default",
        "service.k8s.aws/stack-name": "echo",
    }
    assert tgb["spec"]["serviceRef"] == {"name": "echo", "port": 80}

    aws_proxy.reset_counts()
    await deployer.deploy(model, backend_sg_id=backend_sg)
    assert {op for op in aws_proxy.calls_by_operation() if not op.startswith("Describe")} == set()
    # An NLB listener has no rules to read.
    assert aws_proxy.calls_by_operation()["DescribeRules"] == 0
