"""The process wiring: settings derived from flags, and the endpoint-SG maintenance loop."""

from __future__ import annotations

import pytest

from controller.app import (
    ControllerStartupError,
    EndpointSGMaintenance,
    aws_settings_from,
    leader_election_namespace,
    manager_settings,
    require_custom_resources,
)
from controller.aws.client import AwsClient
from controller.config import parse_config
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGRules
from controller.endpointsg.service import EndpointRuleService
from controller.naming import cluster_tag_key
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.cluster import apply_crds
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.clock import FakeClock
from framework.kube import KubeClient
from framework.testing.apiserver import FaultRule, StandInApiServer


def test_manager_settings_follow_upstream_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    config = parse_config(
        ["--cluster-name=c", "--metrics-bind-addr=127.0.0.1:9000", "--health-probe-bind-addr=:9001"]
    )
    settings = manager_settings(config)
    assert settings.metrics_address is not None and settings.metrics_address.port == 9000
    assert settings.probe_address is not None and settings.probe_address.host is None
    assert settings.leader_election is not None
    assert settings.leader_election.lease_name == "aws-load-balancer-controller-leader"
    assert (settings.leader_election.lease_duration, settings.leader_election.renew_deadline) == (15.0, 10.0)
    assert (
        manager_settings(parse_config(["--cluster-name=c", "--enable-leader-election=false"])).leader_election
        is None
    )


def test_leader_election_namespace_prefers_flag_then_pod_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "lb-system")
    assert leader_election_namespace(parse_config(["--cluster-name=c"])) == "lb-system"
    assert (
        leader_election_namespace(parse_config(["--cluster-name=c", "--leader-election-namespace=x"])) == "x"
    )


def test_aws_settings_from_flags() -> None:
    config = parse_config(
        [
            "--cluster-name=c",
            "--aws-region=eu-west-1",
            "--aws-max-retries=3",
            "--aws-api-endpoints=ec2=http://127.0.0.1:1,elasticloadbalancing=http://127.0.0.1:1",
        ]
    )
    settings = aws_settings_from(config)
    assert settings.region == "eu-west-1"
    assert settings.endpoint_url == "http://127.0.0.1:1"
    assert settings.retry.max_retries == 3
    with pytest.raises(ControllerStartupError, match="one endpoint"):
        aws_settings_from(
            parse_config(
                ["--cluster-name=c", "--aws-api-endpoints=ec2=http://a,elasticloadbalancing=http://b"]
            )
        )


async def test_maintenance_seeds_with_retry_then_rechecks_every_sync_period(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    created = await aws_api.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName="nodes",
        Description="nodes",
        VpcId=sandbox_vpc.vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [{"Key": cluster_tag_key(sandbox_vpc.cluster_name), "Value": "owned"}],
            }
        ],
    )
    node_sg = created["GroupId"]
    enqueued: list[str] = []
    ownership = RuleOwnership(max_port_ranges_per_source=8)
    service = EndpointRuleService(
        ownership,
        enqueued.append,
        api=aws_api,
        vpc_id=sandbox_vpc.vpc_id,
        cluster_name=sandbox_vpc.cluster_name,
    )
    reader = SecurityGroupReader(aws_api)
    rules = EndpointSGRules(ownership, SecurityGroupRuleReconciler(aws_api, reader))
    clock = FakeClock()
    # The first seed attempt fails with a non-retryable error: the loop backs off, it doesn't die.
    aws_proxy.faults.fail("DescribeSecurityGroups", code="UnauthorizedOperation", status=403, times=1)
    maintenance = EndpointSGMaintenance(service, rules, enqueued.append, sync_period=3600.0, clock=clock)
    maintenance.start()
    try:
        await clock.wait_for_timers(1)
        assert enqueued == []
        clock.advance(1.0)
        await clock.wait_for_timers(1)  # seeded, now sleeping for the sync period
        assert enqueued == [node_sg]
        assert node_sg in ownership.tracked_sgs
        clock.advance(3600.0)
        await clock.wait_for_timers(1)
        assert enqueued == [node_sg, node_sg]
    finally:
        await maintenance.stop()
        await reader.aclose()


async def test_custom_resources_are_required_before_anything_starts(standin_server: StandInApiServer) -> None:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        with pytest.raises(ControllerStartupError) as missing:
            await require_custom_resources(kube, None)
        assert str(missing.value) == (
            "the TargetGroupBinding CRD (targetgroupbindings.elbv2.k8s.aws, version v1beta1) is not installed "
            "in the cluster; install it with `kubectl apply -k config/crd`"
        )
        await apply_crds(kube)
        await require_custom_resources(kube, None)
        await require_custom_resources(kube, "team-a")  # --watch-namespace lists only there

        standin_server.faults.add(FaultRule(verb="list", resource="targetgroupbindings", status=403, times=1))
        with pytest.raises(
            ControllerStartupError, match=r"cannot list targetgroupbindings\.elbv2\.k8s\.aws: HTTP 403"
        ):
            await require_custom_resources(kube, None)
