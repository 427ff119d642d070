"""The Service reconciler against the Kubernetes API stand-in (over HTTP) and the real stack deployer
and backend-SG manager against moto behind the AWS-like proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import pytest
import pytest_asyncio
from stack_reconciler_harness import StackWorld, stack_collaborators, watching

from controller.annotations import (
    SVC_DISABLE_NLB_SG,
    SVC_LOAD_BALANCER_ATTRIBUTES,
    SVC_LOAD_BALANCER_TYPE,
    SVC_NLB_TARGET_TYPE,
    SVC_SCHEME,
    SVC_SECURITY_GROUPS,
    SVC_TARGET_GROUP_ATTRIBUTES,
    UnresolvedAnnotationError,
)
from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.metrics import controller_metrics
from controller.model.attributes import DeletionProtectedError
from controller.naming import SERVICE_TAG_PREFIX, StackTags
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from controller.service import ServiceModelBuilder
from controller.service.reconciler import AwsExistingLoadBalancerFinder, ServiceReconciler, service_handler
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework import objects
from framework.controller import Result, TerminalError
from framework.informer import SharedInformer
from framework.kube import SERVICES, KubeApiError, KubeObject
from framework.testing.apiserver import StandInApiServer

NAMESPACE = "apps"
NLB_ANNOTATIONS = {
    SVC_LOAD_BALANCER_TYPE: "external",
    SVC_NLB_TARGET_TYPE: "instance",
    SVC_SCHEME: "internet-facing",
}


@dataclass
class World(StackWorld):
    services: SharedInformer
    reconciler: ServiceReconciler

    async def create_service(self, name: str, annotations: Mapping[str, str]) -> KubeObject:
        created = await self.client.create(
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "annotations": dict(annotations)},
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": name},
                    "ports": [
                        {"name": "tcp", "port": 80, "targetPort": 8080, "nodePort": 31080, "protocol": "TCP"}
                    ],
                },
            },
            NAMESPACE,
        )
        await self.cached(name, lambda obj: obj is not None)
        return created

    async def service(self, name: str) -> KubeObject:
        return await self.client.get(SERVICES, name, NAMESPACE)


@pytest_asyncio.fixture
async def world(
    standin_server: StandInApiServer, aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> AsyncIterator[World]:
    async with stack_collaborators(standin_server, aws_api, sandbox_vpc, NAMESPACE) as parts:
        services = parts.factory.informer(SERVICES)
        reconciler = ServiceReconciler(
            config=parts.config,
            client=parts.client,
            services=services.store,
            builder=ServiceModelBuilder(parts.config, SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id)),
            deployer=parts.deployer,
            backend_sg=parts.backend_sg,
            events=parts.events,
            metrics=controller_metrics(parts.registry),
            stack_target_groups=parts.stack_target_groups,
            tgb_cache=parts.tgb_cache,
            existing_load_balancers=AwsExistingLoadBalancerFinder(parts.deployer.elbv2_index),
            on_backend_sg_unused=parts.on_backend_sg_unused,
        )
        async with watching(parts):
            yield World(parts, services, "service", SERVICE_TAG_PREFIX, services, reconciler)


async def test_nlb_service_is_deployed_then_deleted(world: World) -> None:
    await world.create_service("echo", NLB_ANNOTATIONS)

    assert await world.reconciler.reconcile(f"{NAMESPACE}/echo") == Result()

    service = await world.service("echo")
    assert service["metadata"]["finalizers"] == ["service.k8s.aws/resources"]
    (lb,) = await world.load_balancers()
    assert lb["Type"] == "network" and lb["Scheme"] == "internet-facing"
    assert service["status"]["loadBalancer"]["ingress"] == [{"hostname": lb["DNSName"].lower()}]
    backend_sg = world.backend_sg.cached_group_id
    (managed_sg,) = await world.stack_sgs(f"{NAMESPACE}/echo")
    assert lb["SecurityGroups"] == [managed_sg, backend_sg]
    assert world.backend_sg.users == {f"service/{NAMESPACE}/echo"}
    (tgb,) = await world.tgbs()
    assert tgb["metadata"]["labels"] == {
        "service.k8s.aws/stack-namespace": NAMESPACE,
        "service.k8s.aws/stack-name": "echo",
    }
    (tg,) = await world.target_groups()
    assert tgb["spec"]["targetGroupARN"] == tg["TargetGroupArn"]
    assert tgb["spec"]["targetType"] == "instance"
    assert tgb["spec"]["networking"]["ingress"][0]["from"] == [{"securityGroup": {"groupID": backend_sg}}]
    (event,) = await world.events_for("echo", "SuccessfullyReconciled")
    assert event["type"] == "Normal"

    # Converged: another pass (now with the existing NLB's SGs given to the builder) changes nothing.
    await world.cached("echo", lambda obj: bool(obj and obj.get("status", {}).get("loadBalancer")))
    assert await world.reconciler.reconcile(f"{NAMESPACE}/echo") == Result()
    (again,) = await world.load_balancers()
    assert (
        again["LoadBalancerArn"] == lb["LoadBalancerArn"] and again["SecurityGroups"] == lb["SecurityGroups"]
    )
    assert len(await world.tgbs()) == 1

    await objects.delete(world.client, SERVICES, "echo", NAMESPACE)
    await world.cached("echo", lambda obj: bool(obj and obj["metadata"].get("deletionTimestamp")))
    assert await world.reconciler.reconcile(f"{NAMESPACE}/echo") == Result()

    assert await world.load_balancers() == []
    assert await world.target_groups() == []
    assert await world.stack_sgs(f"{NAMESPACE}/echo") == []
    assert await world.tgbs() == []
    with pytest.raises(KubeApiError) as gone:
        await world.service("echo")
    assert gone.value.is_not_found
    assert world.backend_sg.users == frozenset()
    assert world.backend_sg_unused == [True]


async def test_reconciles_read_the_stacks_bindings_from_the_cache_and_see_their_own_writes(
    world: World, standin_server: StandInApiServer
) -> None:
    """No LIST of TargetGroupBindings on a reconcile while the TGB informer is current; right after
    a reconcile wrote one (here the informer sees nothing: its watch is held back) the next reads
    live, and neither creates it again nor fails."""
    await world.create_service("echo", NLB_ANNOTATIONS)
    key, tgbs = f"{NAMESPACE}/echo", TARGET_GROUP_BINDINGS.plural
    standin_server.stall_watches(tgbs)
    standin_server.requests.clear()
    assert await world.reconciler.reconcile(key) == Result()
    await world.cached("echo", lambda obj: bool(obj and obj.get("status", {}).get("loadBalancer")))
    assert await world.reconciler.reconcile(key) == Result()
    calls = [(r.info.verb, r.status) for r in standin_server.requests.records(resource=tgbs)]
    assert [call for call in calls if call[0] != "watch"] == [("create", 201), ("list", 200)]
    assert len(await world.tgbs()) == 1 and world.error_count("deploy_model_error") == 0

    standin_server.resume_watches()
    stack = StackTags(world.vpc.cluster_name, SERVICE_TAG_PREFIX, key)

    async def cache_current() -> None:
        assert int(world.parts.tgb_cache.resource_version) >= standin_server.resource_version
        assert len(world.parts.tgb_cache.of_stack(stack)) == 1

    await world.until(cache_current, "the TGB cache to show the binding")
    standin_server.requests.clear()
    assert await world.reconciler.reconcile(key) == Result()
    assert [
        r.info.verb for r in standin_server.requests.records(resource=tgbs) if r.info.verb != "watch"
    ] == []


async def test_service_no_longer_ours_is_cleaned_up_and_kept(world: World) -> None:
    await world.create_service("legacy", NLB_ANNOTATIONS)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/legacy") == Result()
    assert len(await world.load_balancers()) == 1

    # Dropping the type annotation hands the Service back to the in-tree cloud provider.
    service = await world.service("legacy")
    service["metadata"]["annotations"] = {SVC_SCHEME: "internet-facing"}
    await world.client.replace(SERVICES, "legacy", service, NAMESPACE)
    await world.cached(
        "legacy", lambda obj: bool(obj and SVC_LOAD_BALANCER_TYPE not in obj["metadata"]["annotations"])
    )
    assert await world.reconciler.reconcile(f"{NAMESPACE}/legacy") == Result()

    assert await world.load_balancers() == []
    assert await world.tgbs() == []
    kept = await world.service("legacy")
    assert not kept["metadata"].get("finalizers")
    assert not kept.get("status", {}).get("loadBalancer", {}).get("ingress")
    assert world.backend_sg.users == frozenset()


async def test_unmanaged_service_costs_nothing(world: World, aws_proxy: AwsProxy) -> None:
    await world.create_service("plain", {})
    before = sum(aws_proxy.calls_by_operation().values())
    assert await world.reconciler.reconcile(f"{NAMESPACE}/plain") == Result()
    assert await world.reconciler.reconcile(f"{NAMESPACE}/missing") == Result()
    assert sum(aws_proxy.calls_by_operation().values()) == before
    assert not (await world.service("plain"))["metadata"].get("finalizers")


def test_service_handler_skips_status_writes() -> None:
    keys: list[str] = []
    handler = service_handler(keys.append)
    old: KubeObject = {
        "metadata": {"namespace": "a", "name": "s", "uid": "1"},
        "spec": {"type": "LoadBalancer"},
    }
    with_status = {**old, "status": {"loadBalancer": {"ingress": [{"hostname": "x"}]}}}
    handler.on_update(old, with_status)
    assert keys == []
    handler.on_update(old, {**old, "spec": {"type": "ClusterIP"}})
    handler.on_update(old, old)  # resync
    handler.on_add(old, True)
    handler.on_delete(old)
    assert keys == ["a/s"] * 4


async def test_existing_load_balancer_finder_reports_attached_sgs_and_scheme(world: World) -> None:
    finder = AwsExistingLoadBalancerFinder(world.parts.deployer.elbv2_index)
    stack = StackTags(world.vpc.cluster_name, SERVICE_TAG_PREFIX, f"{NAMESPACE}/echo")
    assert await finder.find(stack) is None
    await world.create_service("echo", NLB_ANNOTATIONS)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/echo") == Result()
    (lb,) = await world.load_balancers()
    found = await finder.find(stack)
    assert found is not None and list(found.security_group_ids) == lb["SecurityGroups"]
    assert found.scheme.value == lb["Scheme"] == "internet-facing"
    assert sorted(found.subnet_ids) == sorted(zone["SubnetId"] for zone in lb["AvailabilityZones"])


async def test_deploy_failure_is_reported_and_retried(world: World, aws_proxy: AwsProxy) -> None:
    await world.create_service("flaky", NLB_ANNOTATIONS)
    aws_proxy.faults.fail(
        "CreateLoadBalancer",
        code="InvalidConfigurationRequest",
        status=400,
        message="subnet capacity exhausted",
    )
    with pytest.raises(AwsApiError):
        await world.reconciler.reconcile(f"{NAMESPACE}/flaky")
    (event,) = await world.events_for("flaky", "FailedDeployModel")
    assert event["type"] == "Warning" and "subnet capacity exhausted" in event["note"]
    labels = {"controller": "service", "error_category": "deploy_model_error"}
    assert world.registry.get_sample_value("awslbc_controller_reconcile_errors_total", labels) == 1
    # The finalizer went on before AWS was touched; the retry converges.
    assert (await world.service("flaky"))["metadata"]["finalizers"] == ["service.k8s.aws/resources"]
    await world.cached("flaky", lambda obj: bool(obj and obj["metadata"].get("finalizers")))
    assert await world.reconciler.reconcile(f"{NAMESPACE}/flaky") == Result()
    assert len(await world.load_balancers()) == 1


async def test_existing_nlb_without_sgs_stays_without_sgs(world: World) -> None:
    """Scenario 21: the builder learns from the existing NLB that it has no SGs (legacy rules)."""
    await world.create_service("old", {**NLB_ANNOTATIONS, SVC_DISABLE_NLB_SG: "true"})
    assert await world.reconciler.reconcile(f"{NAMESPACE}/old") == Result()
    (lb,) = await world.load_balancers()
    assert not lb.get("SecurityGroups")

    service = await world.service("old")
    service["metadata"]["annotations"] = dict(NLB_ANNOTATIONS)
    await world.client.replace(SERVICES, "old", service, NAMESPACE)
    await world.cached(
        "old", lambda obj: bool(obj and SVC_DISABLE_NLB_SG not in obj["metadata"]["annotations"])
    )
    assert await world.reconciler.reconcile(f"{NAMESPACE}/old") == Result()

    (still,) = await world.load_balancers()
    assert still["LoadBalancerArn"] == lb["LoadBalancerArn"] and not still.get("SecurityGroups")
    assert await world.stack_sgs(f"{NAMESPACE}/old") == []
    assert world.backend_sg.users == frozenset()
    (tgb,) = await world.tgbs()
    peers = [peer for rule in tgb["spec"]["networking"]["ingress"] for peer in rule["from"]]
    assert peers and all("ipBlock" in peer for peer in peers)  # CIDR (legacy) rules


async def test_live_internet_facing_nlb_is_kept_when_the_scheme_annotation_goes(world: World) -> None:
    """With no scheme annotation the existing NLB's scheme wins over the default (internal): the
    live NLB, and so its DNS name, stays instead of being replaced by an internal one."""
    await world.create_service("public", NLB_ANNOTATIONS)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/public") == Result()
    (lb,) = await world.load_balancers()
    assert lb["Scheme"] == "internet-facing"

    service = await world.service("public")
    service["metadata"]["annotations"] = {k: v for k, v in NLB_ANNOTATIONS.items() if k != SVC_SCHEME}
    await world.client.replace(SERVICES, "public", service, NAMESPACE)
    await world.cached("public", lambda obj: bool(obj and SVC_SCHEME not in obj["metadata"]["annotations"]))
    assert await world.reconciler.reconcile(f"{NAMESPACE}/public") == Result()

    (still,) = await world.load_balancers()
    assert (still["LoadBalancerArn"], still["Scheme"]) == (lb["LoadBalancerArn"], "internet-facing")
    status = (await world.service("public"))["status"]["loadBalancer"]["ingress"]
    assert status == [{"hostname": lb["DNSName"]}]


async def test_custom_sg_that_does_not_exist_yet_is_retried_until_it_does(world: World) -> None:
    """The Service annotation naming an SG created later: a FailedBuildModel Warning and a retryable
    (not terminal) error, then the NLB with that SG once it carries the Name tag."""
    await world.create_service("late", {**NLB_ANNOTATIONS, SVC_SECURITY_GROUPS: "late-nlb-sg"})

    with pytest.raises(UnresolvedAnnotationError) as raised:
        await world.reconciler.reconcile(f"{NAMESPACE}/late")
    assert raised.value.retryable
    (event,) = await world.events_for("late", "FailedBuildModel")
    assert SVC_SECURITY_GROUPS in event["note"] and "'late-nlb-sg'" in event["note"], event["note"]
    assert await world.load_balancers() == []

    created = await world.api.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName="late-group",
        Description="late",
        VpcId=world.vpc.vpc_id,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": "late-nlb-sg"}]}
        ],
    )
    assert await world.reconciler.reconcile(f"{NAMESPACE}/late") == Result()
    (lb,) = await world.load_balancers()
    assert lb["SecurityGroups"] == [created["GroupId"]]


async def test_invalid_target_group_attribute_is_a_build_warning_that_leaves_the_nlb_alone(
    world: World,
) -> None:
    """An unparsable ``preserve_client_ip.enabled`` on a deployed NLB: one FailedBuildModel Warning
    naming the Service, the annotation and the value, the build-error metric, and the NLB, its
    target groups, TGBs and status untouched until the Service is fixed."""
    await world.create_service("attrs", NLB_ANNOTATIONS)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/attrs") == Result()
    before = (await world.load_balancers(), await world.target_groups(), await world.tgbs())
    status = (await world.service("attrs"))["status"]

    bad = "preserve_client_ip.enabled=FalSe"
    service = await world.service("attrs")
    service["metadata"]["annotations"][SVC_TARGET_GROUP_ATTRIBUTES] = bad
    await world.client.replace(SERVICES, "attrs", service, NAMESPACE)
    await world.cached(
        "attrs", lambda obj: bool(obj and SVC_TARGET_GROUP_ATTRIBUTES in obj["metadata"]["annotations"])
    )
    with pytest.raises(TerminalError):
        await world.reconciler.reconcile(f"{NAMESPACE}/attrs")

    (event,) = await world.events_for("attrs", "FailedBuildModel")
    assert event["type"] == "Warning"
    for part in (
        f"Service {NAMESPACE}/attrs",
        SVC_TARGET_GROUP_ATTRIBUTES,
        repr(bad),
        "preserve_client_ip.enabled=FalSe",
    ):
        assert part in event["note"], event["note"]
    labels = {"controller": "service", "error_category": "build_model_error"}
    assert world.registry.get_sample_value("awslbc_controller_reconcile_errors_total", labels) == 1
    assert (await world.load_balancers(), await world.target_groups(), await world.tgbs()) == before
    assert (await world.service("attrs"))["status"] == status


async def test_live_nlb_keeps_its_subnets_when_discovery_would_now_pick_others(world: World) -> None:
    """As upstream, an NLB whose Service names no subnets keeps the subnets it has (while its scheme
    stays) instead of being moved to whatever subnet discovery finds today."""
    await world.create_service("placed", NLB_ANNOTATIONS)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/placed") == Result()
    (lb,) = await world.load_balancers()
    placed = sorted(zone["SubnetId"] for zone in lb["AvailabilityZones"])
    assert len(placed) > 1
    await world.api.call("ec2", "DeleteTags", Resources=[placed[0]], Tags=[{"Key": "kubernetes.io/role/elb"}])

    assert await world.reconciler.reconcile(f"{NAMESPACE}/placed") == Result()
    (still,) = await world.load_balancers()
    assert sorted(zone["SubnetId"] for zone in still["AvailabilityZones"]) == placed


async def test_deletion_protection_keeps_everything_until_the_annotation_says_false(world: World) -> None:
    """Upstream: a Service being deleted whose attributes still ask for deletion protection is not
    cleaned up (retried with backoff): its NLB, bindings, SGs and finalizer all stay, and a
    Warning names the Service, the annotation, the attribute and the NLB. Set to false, the
    deletion goes through (the deployer turns protection off first)."""
    protected = {**NLB_ANNOTATIONS, SVC_LOAD_BALANCER_ATTRIBUTES: "deletion_protection.enabled=true"}
    await world.create_service("vault", protected)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/vault") == Result()
    (lb,) = await world.load_balancers()

    await objects.delete(world.client, SERVICES, "vault", NAMESPACE)
    await world.cached("vault", lambda obj: bool(obj and obj["metadata"].get("deletionTimestamp")))
    with pytest.raises(DeletionProtectedError) as refused:
        await world.reconciler.reconcile(f"{NAMESPACE}/vault")
    assert refused.value.retryable
    assert [x["LoadBalancerArn"] for x in await world.load_balancers()] == [lb["LoadBalancerArn"]]
    assert len(await world.tgbs()) == 1
    assert len(await world.stack_sgs(f"{NAMESPACE}/vault")) == 1
    assert (await world.service("vault"))["metadata"]["finalizers"] == ["service.k8s.aws/resources"]
    (event,) = await world.events_for("vault", "FailedBuildModel")
    assert event["type"] == "Warning"
    assert event["note"] == (
        "Failed build model due to deletion_protection is enabled, cannot delete the service: vault "
        f"(Service {NAMESPACE}/vault: {SVC_LOAD_BALANCER_ATTRIBUTES} has deletion_protection.enabled=true; "
        f"{lb['LoadBalancerName']} is kept until it is set to false)"
    )

    service = await world.service("vault")
    service["metadata"]["annotations"][SVC_LOAD_BALANCER_ATTRIBUTES] = "deletion_protection.enabled=false"
    await world.client.replace(SERVICES, "vault", service, NAMESPACE)
    await world.cached(
        "vault",
        lambda obj: obj is None or "false" in obj["metadata"]["annotations"][SVC_LOAD_BALANCER_ATTRIBUTES],
    )
    assert await world.reconciler.reconcile(f"{NAMESPACE}/vault") == Result()
    assert await world.load_balancers() == []
    assert await world.tgbs() == []
    assert await world.stack_sgs(f"{NAMESPACE}/vault") == []


async def test_the_load_balancer_is_deleted_before_its_bindings(world: World, aws_proxy: AwsProxy) -> None:
    """Upstream's order: while AWS refuses to delete the NLB, its TargetGroupBindings (and so the
    rules on the node SGs its traffic needs) stay; once it is gone, the rest follows."""
    await world.create_service("echo", NLB_ANNOTATIONS)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/echo") == Result()
    await objects.delete(world.client, SERVICES, "echo", NAMESPACE)
    await world.cached("echo", lambda obj: bool(obj and obj["metadata"].get("deletionTimestamp")))

    aws_proxy.faults.fail("DeleteLoadBalancer", code="AccessDenied", status=400, times=None)
    with pytest.raises(AwsApiError):
        await world.reconciler.reconcile(f"{NAMESPACE}/echo")
    assert len(await world.load_balancers()) == 1
    assert len(await world.tgbs()) == 1

    aws_proxy.faults.clear()
    aws_proxy.reset_counts()
    assert await world.reconciler.reconcile(f"{NAMESPACE}/echo") == Result()
    assert await world.load_balancers() == [] and await world.tgbs() == []
    order = [r.operation for r in aws_proxy.request_log if r.operation.startswith("Delete")]
    assert order[0] == "DeleteLoadBalancer", order
