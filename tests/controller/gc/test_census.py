"""The ``awslbc_leaked_*`` gauges: computed on the periodic resync, right after the ELBv2 index
rescans, for the price of one DescribeSecurityGroups (no ELBv2 call of their own)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.elbv2 import Elbv2
from controller.backendsg.setup import setup as setup_backend_sg
from controller.config import parse_config
from controller.deploy.elbv2_index import Elbv2Index
from controller.gc.census import LeakCensus
from controller.gc.owners import LiveOwners, live_owners
from controller.gc.setup import setup as setup_leak_census
from controller.naming import MANAGED_SG_RESOURCE_ID, SERVICE_TAG_PREFIX, TGB_RULE_DESCRIPTION, StackTags
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from controller.stack.resync import StackResync
from controller.stack.wiring import StackFeatureDeps
from controller.targetgroupbinding import StackTargetGroups
from framework.events import EventRecorder, EventRecorderSettings
from framework.kube import SERVICES, KubeClient
from framework.manager import Manager
from framework.testing.apiserver import StandInApiServer

GAUGES = (
    "awslbc_leaked_security_groups",
    "awslbc_leaked_load_balancers",
    "awslbc_leaked_target_groups",
    "awslbc_leaked_rules",
)


def gauges(registry: CollectorRegistry) -> dict[str, float | None]:
    return {name: registry.get_sample_value(name) for name in GAUGES}


def nlb_service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": name},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": "service.k8s.aws/nlb"},
    }


async def plant_stack(api: AwsApi, vpc: SandboxVpc, stack: StackTags, name: str) -> str:
    """An LB, a target group and a managed SG with the stack's tags; returns the SG id."""

    def tags(resource_id: str) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in stack.resource_tags(resource_id).items()]

    created = await api.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName=name,
        Description="managed",
        VpcId=vpc.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(MANAGED_SG_RESOURCE_ID)}],
    )
    await api.call(
        "elbv2", "CreateLoadBalancer", Name=name, Subnets=list(vpc.subnet_ids), Tags=tags("LoadBalancer")
    )
    await api.call(
        "elbv2",
        "CreateTargetGroup",
        Name=name,
        Protocol="TCP",
        Port=80,
        VpcId=vpc.vpc_id,
        TargetType="instance",
        Tags=tags("ns/svc:80"),
    )
    return str(created["GroupId"])


async def test_leaks_are_counted_on_the_resync_from_the_index_scan_and_one_sg_read(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    live = StackTags(sandbox_vpc.cluster_name, SERVICE_TAG_PREFIX, "ns/live")
    gone = StackTags(sandbox_vpc.cluster_name, SERVICE_TAG_PREFIX, "ns/gone")
    await plant_stack(aws_api, sandbox_vpc, live, "live")
    gone_sg = await plant_stack(aws_api, sandbox_vpc, gone, "gone")
    # A labelled rule from the gone stack's SG that no binding names: leaked from the start.
    foreign = await aws_api.call(
        "ec2", "CreateSecurityGroup", GroupName="foreign", Description="f", VpcId=sandbox_vpc.vpc_id
    )
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 30000,
        "ToPort": 30000,
        "UserIdGroupPairs": [{"GroupId": gone_sg, "Description": TGB_RULE_DESCRIPTION}],
    }
    await aws_api.call(
        "ec2", "AuthorizeSecurityGroupIngress", GroupId=foreign["GroupId"], IpPermissions=[permission]
    )
    services = [nlb_service("live"), nlb_service("gone")]

    def owners() -> LiveOwners:
        return live_owners(
            cluster_name=sandbox_vpc.cluster_name,
            ingresses=[],
            ingress_classes=[],
            services=services,
            bindings=[],
            ingress_class="alb",
            load_balancer_class="service.k8s.aws/nlb",
        )

    registry = CollectorRegistry()
    reader = SecurityGroupReader(aws_api)
    index = Elbv2Index(Elbv2(aws_api), vpc_id=sandbox_vpc.vpc_id)
    census = LeakCensus(
        api=aws_api,
        reader=reader,
        index=index,
        owners=owners,
        cluster_name=sandbox_vpc.cluster_name,
        vpc_id=sandbox_vpc.vpc_id,
        registry=registry,
    )
    resync = StackResync(sync_period=3600)
    resync.add_refresher(index)
    resync.add_refresher(census)
    try:
        # Before any scan the census does nothing: an empty index is not "everything leaked".
        await census.refresh()
        assert census.last_report is None
        assert gauges(registry) == dict.fromkeys(GAUGES, 0.0)

        aws_proxy.reset_counts()
        await resync.resync_once()
        assert gauges(registry) == {**dict.fromkeys(GAUGES, 0.0), "awslbc_leaked_rules": 1.0}
        calls = aws_proxy.calls_by_operation()
        # The index's scan, plus the census's single SG read: nothing per stack.
        assert calls == Counter(
            {
                "DescribeLoadBalancers": 1,
                "DescribeTargetGroups": 1,
                "DescribeTags": 1,
                "DescribeSecurityGroups": 1,
            }
        )

        services.remove(nlb_service("gone"))  # deleted while the controller was down
        await resync.resync_once()
        assert gauges(registry) == {
            "awslbc_leaked_security_groups": 1.0,
            "awslbc_leaked_load_balancers": 1.0,
            "awslbc_leaked_target_groups": 1.0,
            "awslbc_leaked_rules": 1.0,
        }

        services.clear()
        await resync.resync_once()
        assert gauges(registry)["awslbc_leaked_load_balancers"] == 2.0
        assert census.last_report is not None
        assert census.last_report.counts() == {
            "security_groups": 2,
            "load_balancers": 2,
            "target_groups": 2,
            "rules": 1,
        }
    finally:
        await reader.aclose()


async def test_the_census_is_refreshed_after_the_index_and_reads_the_shared_informer_caches(
    standin_server: StandInApiServer, aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    config = parse_config([f"--cluster-name={sandbox_vpc.cluster_name}"])
    reader = SecurityGroupReader(aws_api)
    registry = CollectorRegistry()
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        manager = Manager(kube, registry=registry)
        deps = StackFeatureDeps.build(
            config,
            informers=manager.informers,
            aws=aws_api,
            vpc_id=sandbox_vpc.vpc_id,
            reader=reader,
            backend_sg=setup_backend_sg(
                config, manager, aws=aws_api, reader=reader, vpc_id=sandbox_vpc.vpc_id
            ),
            events=EventRecorder(kube, EventRecorderSettings(reporting_instance="test")),
            stack_target_groups=StackTargetGroups(),
        )
        census = setup_leak_census(config, manager, aws=aws_api, reader=reader, deps=deps, registry=registry)
        assert deps.resync.refreshers == (deps.deployer.elbv2_index, deps.deployer.sg_index, census)
        await plant_stack(
            aws_api, sandbox_vpc, StackTags(sandbox_vpc.cluster_name, SERVICE_TAG_PREFIX, "ns/svc"), "svc"
        )
        manager.informers.informer(SERVICES).store.upsert(nlb_service("svc"))
        try:
            await deps.resync.resync_once()
            assert gauges(registry)["awslbc_leaked_load_balancers"] == 0.0
            manager.informers.informer(SERVICES).store.delete("ns/svc")
            await deps.resync.resync_once()
            assert gauges(registry)["awslbc_leaked_load_balancers"] == 1.0
        finally:
            await reader.aclose()
