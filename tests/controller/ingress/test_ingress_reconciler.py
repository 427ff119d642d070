"""The Ingress-group reconciler against the Kubernetes API stand-in (over HTTP) and the real stack
deployer and backend-SG manager against moto behind the AWS-like proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from stack_reconciler_harness import StackWorld, stack_collaborators, watching

from controller.annotations import (
    ING_GROUP_NAME,
    ING_INBOUND_CIDRS,
    ING_LOAD_BALANCER_ATTRIBUTES,
    ING_SCHEME,
    ING_SECURITY_GROUPS,
    INGRESS_CLASS_ANNOTATION,
    UnresolvedAnnotationError,
)
from controller.aws.api import AwsApi
from controller.ingress import IngressClassMatcher, IngressModelBuilder
from controller.ingress.class_source import InformerIngressClasses
from controller.ingress.reconciler import (
    IngressGroupReconciler,
    group_id_from_key,
    ingress_event_keys,
    ingress_group_handlers,
    service_event_keys,
)
from controller.metrics import controller_metrics
from controller.model.attributes import DeletionProtectedError
from controller.naming import INGRESS_TAG_PREFIX
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework import objects
from framework.clock import FakeClock
from framework.controller import Controller, Result, TerminalError
from framework.informer import SharedInformer, Store
from framework.kube import (
    INGRESS_CLASSES,
    INGRESSES,
    SERVICES,
    KubeApiError,
    KubeObject,
)
from framework.testing.apiserver import StandInApiServer

NAMESPACE = "shop"


@dataclass
class World(StackWorld):
    ingresses: SharedInformer
    services: SharedInformer
    matcher: IngressClassMatcher
    reconciler: IngressGroupReconciler

    async def create_service(self, name: str = "web") -> None:
        await self.client.create(
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {
                    "type": "NodePort",
                    "selector": {"app": name},
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}
                    ],
                },
            },
            NAMESPACE,
        )

    async def create_ingress(self, name: str, annotations: Mapping[str, str] | None = None) -> KubeObject:
        body = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": name,
                "annotations": {
                    INGRESS_CLASS_ANNOTATION: "alb",
                    ING_SCHEME: "internet-facing",
                    **(annotations or {}),
                },
            },
            "spec": {
                "rules": [
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"name": "http"}}},
                                }
                            ]
                        }
                    }
                ]
            },
        }
        created = await self.client.create(INGRESSES, body, NAMESPACE)
        await self.cached(name, lambda obj: obj is not None)
        return created

    async def ingress(self, name: str) -> KubeObject:
        return await self.client.get(INGRESSES, name, NAMESPACE)


@pytest_asyncio.fixture
async def world(
    standin_server: StandInApiServer, aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> AsyncIterator[World]:
    async with stack_collaborators(standin_server, aws_api, sandbox_vpc, NAMESPACE) as parts:
        config = parts.config
        ingresses = parts.factory.informer(INGRESSES)
        services = parts.factory.informer(SERVICES)
        classes = parts.factory.informer(INGRESS_CLASSES)
        # No IngressClassParams nor Namespaces: these tests' Ingresses use the legacy class annotation.
        matcher = IngressClassMatcher(
            InformerIngressClasses(classes.store, Store(), Store()), config.ingress_class
        )
        reconciler = IngressGroupReconciler(
            config=config,
            client=parts.client,
            ingresses=ingresses.store,
            matcher=matcher,
            builder=IngressModelBuilder(
                config,
                SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id),
                lambda namespace, name: services.store.get(f"{namespace}/{name}"),
            ),
            deployer=parts.deployer,
            backend_sg=parts.backend_sg,
            events=parts.events,
            metrics=controller_metrics(parts.registry),
            stack_target_groups=parts.stack_target_groups,
            tgb_cache=parts.tgb_cache,
            on_backend_sg_unused=parts.on_backend_sg_unused,
        )
        built = World(
            parts, ingresses, "ingress", INGRESS_TAG_PREFIX, ingresses, services, matcher, reconciler
        )
        async with watching(parts):
            await built.create_service()
            await built.until(_has(services.store, f"{NAMESPACE}/web"), "the Service in the cache")
            yield built


def _has(store: Store, key: str) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        assert store.get(key) is not None

    return probe


# --------------------------------------------------------------------------------------------------


async def test_ingress_is_deployed_then_deleted(world: World) -> None:
    await world.create_ingress("shop-front")

    assert await world.reconciler.reconcile(f"{NAMESPACE}/shop-front") == Result()

    ingress = await world.ingress("shop-front")
    assert ingress["metadata"]["finalizers"] == ["ingress.k8s.aws/resources"]
    (lb,) = await world.load_balancers()
    assert lb["Type"] == "application"
    assert ingress["status"]["loadBalancer"]["ingress"] == [{"hostname": lb["DNSName"].lower()}]
    # [managed SG, backend SG] on the ALB; the TGB sources its rules from the backend SG.
    backend_sg = world.backend_sg.cached_group_id
    assert backend_sg is not None and lb["SecurityGroups"][1] == backend_sg
    assert world.backend_sg.users == {f"ingress/{NAMESPACE}/shop-front"}
    (tgb,) = await world.tgbs()
    assert tgb["metadata"]["labels"] == {
        "ingress.k8s.aws/stack-namespace": NAMESPACE,
        "ingress.k8s.aws/stack-name": "shop-front",
    }
    (tg,) = await world.target_groups()
    assert tgb["spec"]["targetGroupARN"] == tg["TargetGroupArn"]
    assert tgb["spec"]["serviceRef"] == {"name": "web", "port": "http"}
    assert tgb["spec"]["networking"]["ingress"][0]["from"] == [{"securityGroup": {"groupID": backend_sg}}]
    (event,) = await world.events_for("shop-front", "SuccessfullyReconciled")
    assert event["type"] == "Normal"
    for stage in ("add_finalizers", "build_model", "deploy_model", "update_status"):
        labels = {"controller": "ingress", "reconcile_stage": stage}
        assert world.registry.get_sample_value("awslbc_controller_reconcile_stage_duration_count", labels), (
            stage
        )

    # A second pass converges without changes and keeps everything.
    await world.cached("shop-front", lambda obj: bool(obj and obj.get("status")))
    assert await world.reconciler.reconcile(f"{NAMESPACE}/shop-front") == Result()
    assert len(await world.load_balancers()) == 1 and len(await world.tgbs()) == 1

    await objects.delete(world.client, INGRESSES, "shop-front", NAMESPACE)
    await world.cached("shop-front", lambda obj: bool(obj and obj["metadata"].get("deletionTimestamp")))
    assert await world.reconciler.reconcile(f"{NAMESPACE}/shop-front") == Result()

    assert await world.load_balancers() == []
    assert await world.target_groups() == []
    assert await world.stack_sgs(f"{NAMESPACE}/shop-front") == []
    assert await world.tgbs() == []
    try:
        await world.ingress("shop-front")
        raise AssertionError("the Ingress should be gone once its finalizer is removed")
    except KubeApiError as error:
        assert error.is_not_found
    # The backend SG lost its last user: the reconciler asks for the deletion check.
    assert world.backend_sg.users == frozenset()
    assert world.backend_sg_unused == [True]


async def test_conflicting_inbound_cidrs_fail_only_their_group(world: World) -> None:
    """Scenario 14, through the informer handlers and a work-queue controller."""
    await world.create_ingress("team-a", {ING_GROUP_NAME: "shared", ING_INBOUND_CIDRS: "10.0.0.0/8"})
    await world.create_ingress("team-b", {ING_GROUP_NAME: "shared", ING_INBOUND_CIDRS: "172.16.0.0/12"})
    await world.create_ingress("solo")
    # Handlers registered after the informers synced receive the cached Ingresses as adds.
    controller: Controller[str] = Controller(
        "ingress", world.reconciler, clock=FakeClock(), registry=CollectorRegistry()
    )
    handlers = ingress_group_handlers(controller.queue.add, world.matcher, world.ingresses.store, Store())
    world.ingresses.add_handler(handlers.ingress)
    world.services.add_handler(handlers.service)
    controller.start()
    try:

        async def solo_deployed() -> KubeObject:
            ingress = await world.ingress("solo")
            assert (ingress.get("status") or {}).get("loadBalancer", {}).get("ingress")
            return ingress

        solo = await world.until(solo_deployed, "the other group to deploy")
        (lb,) = await world.load_balancers()
        assert solo["status"]["loadBalancer"]["ingress"] == [{"hostname": lb["DNSName"].lower()}]

        for name, value in (("team-a", "10.0.0.0/8"), ("team-b", "172.16.0.0/12")):

            async def warned(name: str = name) -> list[KubeObject]:
                found = await world.events_for(name, "FailedBuildModel")
                assert found
                return found

            (event,) = await world.until(warned, f"FailedBuildModel on {name}")
            assert event["type"] == "Warning"
            assert ING_INBOUND_CIDRS in event["note"]
            assert "10.0.0.0/8" in event["note"] and "172.16.0.0/12" in event["note"], value
            # Finalizers come before the build (upstream order); nothing was deployed for the group.
            assert (await world.ingress(name))["metadata"]["finalizers"] == ["group.ingress.k8s.aws/shared"]
        assert world.error_count("build_model_error") >= 1
        assert await world.stack_sgs("shared") == []
    finally:
        await controller.stop(timeout=5.0)


async def test_member_leaving_an_explicit_group_is_released(world: World) -> None:
    """Scenario 32: one of two group members is deleted; the stack and the backend SG stay."""
    await world.create_ingress("cart", {ING_GROUP_NAME: "mall"})
    await world.create_ingress("checkout", {ING_GROUP_NAME: "mall"})
    assert await world.reconciler.reconcile("mall") == Result()
    assert world.backend_sg.users == {f"ingress/{NAMESPACE}/cart", f"ingress/{NAMESPACE}/checkout"}
    (lb,) = await world.load_balancers()

    await objects.delete(world.client, INGRESSES, "checkout", NAMESPACE)
    await world.cached("checkout", lambda obj: bool(obj and obj["metadata"].get("deletionTimestamp")))
    assert await world.reconciler.reconcile("mall") == Result()

    assert [x["LoadBalancerArn"] for x in await world.load_balancers()] == [lb["LoadBalancerArn"]]
    assert world.backend_sg.users == {f"ingress/{NAMESPACE}/cart"}
    assert world.backend_sg_unused == []
    try:
        await world.ingress("checkout")
        raise AssertionError("the deleted member's finalizer should have been removed")
    except KubeApiError as error:
        assert error.is_not_found
    cart = await world.ingress("cart")
    assert cart["metadata"]["finalizers"] == ["group.ingress.k8s.aws/mall"]
    assert cart["status"]["loadBalancer"]["ingress"] == [{"hostname": lb["DNSName"].lower()}]


async def test_ingress_of_another_class_costs_nothing(world: World, aws_proxy: AwsProxy) -> None:
    await world.client.create(
        INGRESSES,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "nginx-one", "annotations": {INGRESS_CLASS_ANNOTATION: "nginx"}},
            "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
        },
        NAMESPACE,
    )
    await world.cached("nginx-one", lambda obj: obj is not None)
    before = sum(aws_proxy.calls_by_operation().values())
    assert (
        ingress_event_keys(world.ingresses.store.get(f"{NAMESPACE}/nginx-one") or {}, world.matcher) == set()
    )
    assert await world.reconciler.reconcile(f"{NAMESPACE}/nginx-one") == Result()
    assert sum(aws_proxy.calls_by_operation().values()) == before
    assert "finalizers" not in (await world.ingress("nginx-one"))["metadata"]


async def test_missing_backend_service_is_a_terminal_build_error(world: World) -> None:
    created = await world.create_ingress("broken")
    body = {**created, "spec": {"defaultBackend": {"service": {"name": "nope", "port": {"number": 80}}}}}
    await world.client.replace(INGRESSES, "broken", body, NAMESPACE)
    await world.cached("broken", lambda obj: bool(obj and "defaultBackend" in obj["spec"]))
    try:
        await world.reconciler.reconcile(f"{NAMESPACE}/broken")
        raise AssertionError("expected a TerminalError")
    except TerminalError as error:
        assert "nope" in str(error)
    (event,) = await world.events_for("broken", "FailedBuildModel")
    assert "Service not found" in event["note"]
    assert world.error_count("build_model_error") == 1
    assert await world.load_balancers() == []


def test_keys_and_service_mapping() -> None:
    assert str(group_id_from_key("ns/name")) == "ns/name" and not group_id_from_key("ns/name").is_explicit
    assert group_id_from_key("my-group.prod").is_explicit
    matcher = IngressClassMatcher(InformerIngressClasses(Store(), Store(), Store()), "alb")
    ours: dict[str, Any] = {
        "metadata": {"namespace": "a", "name": "i1", "annotations": {INGRESS_CLASS_ANNOTATION: "alb"}},
        "spec": {
            "rules": [{"http": {"paths": [{"backend": {"service": {"name": "svc", "port": {"number": 1}}}}]}}]
        },
    }
    grouped = {
        "metadata": {
            "namespace": "a",
            "name": "i2",
            "annotations": {INGRESS_CLASS_ANNOTATION: "alb", ING_GROUP_NAME: "g"},
            "finalizers": ["ingress.k8s.aws/resources"],
        },
        "spec": {"defaultBackend": {"service": {"name": "svc", "port": {"number": 1}}}},
    }
    other_ns = {**ours, "metadata": {**ours["metadata"], "namespace": "b"}}
    service = {"metadata": {"namespace": "a", "name": "svc"}}
    # The moved Ingress still holds its implicit finalizer: both groups must look again.
    assert service_event_keys(service, [ours, grouped, other_ns], matcher) == {"a/i1", "a/i2", "g"}
    assert service_event_keys({"metadata": {"namespace": "a", "name": "other"}}, [ours], matcher) == set()


async def test_switch_to_custom_sg_detaches_before_deleting_the_managed_sg(
    world: World, aws_proxy: AwsProxy
) -> None:
    """Scenario 51, with the old managed SG still referenced by a rule: the stack converges, the
    deletion waits (requeue, no hot loop), and finishes once the reference is gone."""
    created = await world.create_ingress("api")
    assert await world.reconciler.reconcile(f"{NAMESPACE}/api") == Result()
    (managed_sg,) = await world.stack_sgs(f"{NAMESPACE}/api")
    custom = await _security_group(world, "custom-x")
    other = await _security_group(world, "other")
    reference = [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": managed_sg}]}
    ]
    await world.api.call("ec2", "AuthorizeSecurityGroupIngress", GroupId=other, IpPermissions=reference)

    current = await world.ingress("api")
    current["metadata"]["annotations"][ING_SECURITY_GROUPS] = custom
    await world.client.replace(INGRESSES, "api", current, NAMESPACE)
    await world.cached("api", lambda obj: bool(obj and ING_SECURITY_GROUPS in obj["metadata"]["annotations"]))

    aws_proxy.reset_counts()
    result = await world.reconciler.reconcile(f"{NAMESPACE}/api")
    assert result.requeue_after is not None and result.requeue_after > 0
    (lb,) = await world.load_balancers()
    assert lb["SecurityGroups"] == [custom]
    assert await world.stack_sgs(f"{NAMESPACE}/api") == [managed_sg]  # still referenced
    # The LB let go of the managed SG before its deletion was attempted (§1.9).
    operations = [r.operation for r in aws_proxy.request_log]
    assert operations.index("SetSecurityGroups") < operations.index("DeleteSecurityGroup")
    (tgb,) = await world.tgbs()
    assert "networking" not in tgb["spec"]  # custom SGs without rule management (scenario 28)
    # The backend SG is no longer needed by this Ingress.
    assert world.backend_sg.users == frozenset() and world.backend_sg_unused == [True]
    assert len(await world.events_for("api", "SuccessfullyReconciled")) == 1  # only the first pass

    await world.api.call("ec2", "RevokeSecurityGroupIngress", GroupId=other, IpPermissions=reference)
    assert await world.reconciler.reconcile(f"{NAMESPACE}/api") == Result()
    assert await world.stack_sgs(f"{NAMESPACE}/api") == []
    assert created["metadata"]["name"] == "api"


async def _security_group(world: World, name: str, *, name_tag: str | None = None) -> str:
    tags = [{"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": name_tag}]}]
    response = await world.api.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName=name,
        Description=name,
        VpcId=world.vpc.vpc_id,
        **({"TagSpecifications": tags} if name_tag is not None else {}),
    )
    return str(response["GroupId"])


async def test_custom_sg_that_does_not_exist_yet_is_retried_until_it_does(world: World) -> None:
    """A custom SG named before it is created: a FailedBuildModel Warning and a retryable error (the
    work queue retries it with backoff), then the LB once the SG carries that Name tag."""
    await world.create_ingress("late", {ING_SECURITY_GROUPS: "my-late-sg"})

    with pytest.raises(UnresolvedAnnotationError) as raised:
        await world.reconciler.reconcile(f"{NAMESPACE}/late")
    assert not isinstance(raised.value, TerminalError) and raised.value.retryable
    (event,) = await world.events_for("late", "FailedBuildModel")
    assert ING_SECURITY_GROUPS in event["note"] and "'my-late-sg'" in event["note"], event["note"]
    assert "couldn't find all security groups: requested names [my-late-sg] but found []" in event["note"]
    assert world.error_count("build_model_error") == 1
    assert await world.load_balancers() == []

    late_sg = await _security_group(world, "group-name-differs", name_tag="my-late-sg")
    assert await world.reconciler.reconcile(f"{NAMESPACE}/late") == Result()
    (lb,) = await world.load_balancers()
    assert lb["SecurityGroups"] == [late_sg]


async def test_aws_failure_while_resolving_custom_sgs_is_never_terminal(
    world: World, aws_proxy: AwsProxy
) -> None:
    """Throttling or a 5xx that outlasts the client's retries fails this pass only."""
    custom = await _security_group(world, "custom", name_tag="custom")
    await world.create_ingress("busy", {ING_SECURITY_GROUPS: "custom"})
    aws_proxy.faults.fail("DescribeSecurityGroups", code="RequestLimitExceeded", status=503, times=None)
    try:
        with pytest.raises(UnresolvedAnnotationError) as raised:
            await world.reconciler.reconcile(f"{NAMESPACE}/busy")
    finally:
        aws_proxy.faults.clear()
    assert "RequestLimitExceeded" in str(raised.value)
    assert await world.load_balancers() == []

    assert await world.reconciler.reconcile(f"{NAMESPACE}/busy") == Result()
    (lb,) = await world.load_balancers()
    assert lb["SecurityGroups"] == [custom]


async def test_unresolved_custom_sg_is_requeued_by_the_controller(world: World) -> None:
    """Through a work-queue controller: the key is retried with backoff (never given up on) until
    the SG exists, with no Kubernetes change to trigger it."""
    await world.create_ingress("queued", {ING_SECURITY_GROUPS: "queued-sg"})
    registry = CollectorRegistry()
    controller: Controller[str] = Controller("ingress", world.reconciler, registry=registry)
    controller.start()
    try:
        controller.queue.add(f"{NAMESPACE}/queued")

        async def warned() -> None:
            assert await world.events_for("queued", "FailedBuildModel")

        await world.until(warned, "FailedBuildModel on queued")
        assert not registry.get_sample_value("controller_runtime_terminal_reconcile_errors_total")
        group_id = await _security_group(world, "queued-group", name_tag="queued-sg")

        async def deployed() -> None:
            balancers = await world.load_balancers()
            assert [lb["SecurityGroups"] for lb in balancers] == [[group_id]]

        await world.until(deployed, "the LB with the late SG")
        assert not registry.get_sample_value("controller_runtime_terminal_reconcile_errors_total")
    finally:
        await controller.stop(timeout=5.0)


async def test_deletion_protection_stops_the_group_until_the_annotation_says_false(world: World) -> None:
    """Upstream: an Ingress being deleted whose load-balancer-attributes still ask for deletion
    protection stops its whole group (retried with backoff), before anything is touched; each
    member gets a Warning naming the Ingress, the annotation, the attribute and the ALB. Set to
    false, the group converges without it and the last member's deletion removes the ALB."""
    protected = {ING_GROUP_NAME: "vault", ING_LOAD_BALANCER_ATTRIBUTES: "deletion_protection.enabled=true"}
    await world.create_ingress("only", protected)
    assert await world.reconciler.reconcile("vault") == Result()
    (lb,) = await world.load_balancers()

    await objects.delete(world.client, INGRESSES, "only", NAMESPACE)
    await world.cached("only", lambda obj: bool(obj and obj["metadata"].get("deletionTimestamp")))
    with pytest.raises(DeletionProtectedError):
        await world.reconciler.reconcile("vault")
    assert [x["LoadBalancerArn"] for x in await world.load_balancers()] == [lb["LoadBalancerArn"]]
    assert len(await world.tgbs()) == 1
    assert (await world.ingress("only"))["metadata"]["finalizers"] == ["group.ingress.k8s.aws/vault"]
    (event,) = await world.events_for("only", "FailedBuildModel")
    assert event["note"] == (
        "Failed build model due to deletion_protection is enabled, cannot delete the ingress: only "
        f"(Ingress {NAMESPACE}/only: {ING_LOAD_BALANCER_ATTRIBUTES} has deletion_protection.enabled=true; "
        f"{lb['LoadBalancerName']} is kept until it is set to false)"
    )

    # A malformed value is a terminal build error naming the annotation (an edit retriggers).
    ingress = await world.ingress("only")
    ingress["metadata"]["annotations"][ING_LOAD_BALANCER_ATTRIBUTES] = "deletion_protection.enabled=yes"
    await world.client.replace(INGRESSES, "only", ingress, NAMESPACE)
    await world.cached(
        "only",
        lambda obj: bool(obj and "yes" in obj["metadata"]["annotations"][ING_LOAD_BALANCER_ATTRIBUTES]),
    )
    with pytest.raises(TerminalError, match=r'strconv\.ParseBool: parsing "yes": invalid syntax'):
        await world.reconciler.reconcile("vault")
    assert len(await world.load_balancers()) == 1

    ingress = await world.ingress("only")
    ingress["metadata"]["annotations"][ING_LOAD_BALANCER_ATTRIBUTES] = "deletion_protection.enabled=false"
    await world.client.replace(INGRESSES, "only", ingress, NAMESPACE)
    await world.cached(
        "only",
        lambda obj: obj is None or "false" in obj["metadata"]["annotations"][ING_LOAD_BALANCER_ATTRIBUTES],
    )
    assert await world.reconciler.reconcile("vault") == Result()
    assert await world.load_balancers() == []
    assert await world.tgbs() == []
