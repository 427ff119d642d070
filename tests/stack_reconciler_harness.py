"""What the Ingress and Service reconciler tests share: a stack reconciler's collaborators wired to
the Kubernetes API stand-in (over HTTP) and to moto behind the AWS-like proxy, and reads of what a
reconcile left behind (Events, TargetGroupBindings, load balancers, target groups, stack SGs).

Each test module builds its own reconciler (and the informers it needs) from ``StackCollaborators``
and wraps the result in its own ``StackWorld`` subclass, which adds the objects of its kind.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.backendsg import BackendSGManager, BackendSGSettings
from controller.config import ControllerSettings, parse_config
from controller.deploy import StackDeployer
from controller.naming import stack_tag_key
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.seed import SandboxVpc
from controller.stack.binding_cache import InformerBindingCache
from controller.targetgroupbinding import StackTargetGroups
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.clock import FakeClock
from framework.events import EVENTS_V1, EventRecorder, EventRecorderSettings
from framework.informer import InformerFactory, SharedInformer
from framework.kube import NAMESPACES, KubeClient, KubeObject
from framework.testing.apiserver import StandInApiServer

CRD_PATH = pathlib.Path(__file__).resolve().parents[1] / "config/crd/elbv2.k8s.aws_targetgroupbindings.yaml"
WAIT_SECONDS = 10.0
T = TypeVar("T")


async def until(probe: Callable[[], Awaitable[T]], what: str) -> T:
    """``probe()``'s result once it stops failing an assertion; fails after ``WAIT_SECONDS``."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        try:
            return await probe()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}") from None
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class StackCollaborators:
    """Everything a stack reconciler takes besides its own informers, ready before it is built.

    ``backend_sg_unused`` records each ``on_backend_sg_unused`` call of the reconciler.
    """

    client: KubeClient
    api: AwsApi
    vpc: SandboxVpc
    namespace: str
    config: ControllerSettings
    registry: CollectorRegistry
    factory: InformerFactory
    reader: SecurityGroupReader
    backend_sg: BackendSGManager
    deployer: StackDeployer
    events: EventRecorder
    stack_target_groups: StackTargetGroups
    tgb_cache: InformerBindingCache
    """On ``factory``'s TGB informer (synced by ``watching``, as the manager syncs it)."""
    backend_sg_unused: list[bool]

    def on_backend_sg_unused(self) -> None:
        self.backend_sg_unused.append(True)


@asynccontextmanager
async def stack_collaborators(
    standin_server: StandInApiServer, aws_api: AwsApi, sandbox_vpc: SandboxVpc, namespace: str
) -> AsyncIterator[StackCollaborators]:
    """The TGB CRD and ``namespace`` installed; on leave, whatever ``start_watching`` started stops."""
    async with KubeClient.from_configuration(standin_server.client_configuration()) as client:
        await client.request(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            body=yaml.safe_load(CRD_PATH.read_text()),
        )
        await client.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        config = parse_config(["--cluster-name", sandbox_vpc.cluster_name])
        reader = SecurityGroupReader(aws_api, clock=FakeClock())
        factory = InformerFactory(client)
        parts = StackCollaborators(
            client=client,
            api=aws_api,
            vpc=sandbox_vpc,
            namespace=namespace,
            config=config,
            registry=CollectorRegistry(),
            factory=factory,
            reader=reader,
            backend_sg=BackendSGManager(
                BackendSGSettings.from_config(config, sandbox_vpc.vpc_id),
                aws_api,
                sg_manager=SecurityGroupManager(aws_api, reader),
                reader=reader,
            ),
            deployer=StackDeployer(
                aws_api, reader, cluster_name=config.cluster_name, vpc_id=sandbox_vpc.vpc_id
            ),
            events=EventRecorder(client, EventRecorderSettings(reporting_instance="test"), clock=FakeClock()),
            stack_target_groups=StackTargetGroups(),
            tgb_cache=InformerBindingCache.from_factory(factory),
            backend_sg_unused=[],
        )
        try:
            yield parts
        finally:
            await reader.aclose()


@asynccontextmanager
async def watching(parts: StackCollaborators) -> AsyncIterator[None]:
    """Run the informers registered on ``parts.factory`` (synced on entry) and the event recorder."""
    parts.factory.start()
    parts.events.start()
    try:
        assert await parts.factory.wait_for_sync(WAIT_SECONDS)
        yield
    finally:
        await parts.events.stop(timeout=5.0)
        await parts.factory.stop()


@dataclass
class StackWorld:
    """One test's view of a stack reconciler's world; ``watched`` is the informer of its kind."""

    parts: StackCollaborators
    watched: SharedInformer
    controller_name: str
    tag_prefix: str

    @property
    def client(self) -> KubeClient:
        return self.parts.client

    @property
    def api(self) -> AwsApi:
        return self.parts.api

    @property
    def vpc(self) -> SandboxVpc:
        return self.parts.vpc

    @property
    def registry(self) -> CollectorRegistry:
        return self.parts.registry

    @property
    def events(self) -> EventRecorder:
        return self.parts.events

    @property
    def backend_sg(self) -> BackendSGManager:
        return self.parts.backend_sg

    @property
    def backend_sg_unused(self) -> list[bool]:
        return self.parts.backend_sg_unused

    async def until(self, probe: Callable[[], Awaitable[T]], what: str) -> T:
        return await until(probe, what)

    async def cached(self, name: str, check: Callable[[KubeObject | None], bool]) -> KubeObject | None:
        """The cached object ``name`` of the watched kind once ``check`` accepts it."""

        async def probe() -> KubeObject | None:
            obj = self.watched.store.get(f"{self.parts.namespace}/{name}")
            assert check(obj)
            return obj

        return await until(probe, f"the cache to show {name}")

    async def events_for(self, name: str, reason: str) -> list[KubeObject]:
        await asyncio.wait_for(self.events.flush(), WAIT_SECONDS)
        listed = await self.client.list(EVENTS_V1, self.parts.namespace)
        return [e for e in listed["items"] if e["regarding"]["name"] == name and e["reason"] == reason]

    async def tgbs(self) -> list[KubeObject]:
        return list((await self.client.list(TARGET_GROUP_BINDINGS, self.parts.namespace))["items"])

    async def load_balancers(self) -> list[dict[str, Any]]:
        found = await self.api.paginate("elbv2", "DescribeLoadBalancers", "LoadBalancers")
        return [lb for lb in found if lb.get("VpcId") == self.vpc.vpc_id]

    async def target_groups(self) -> list[dict[str, Any]]:
        found = await self.api.paginate("elbv2", "DescribeTargetGroups", "TargetGroups")
        return [tg for tg in found if tg.get("VpcId") == self.vpc.vpc_id]

    async def stack_sgs(self, stack_id: str) -> list[str]:
        """Ids of the SGs tagged as belonging to stack ``stack_id``."""
        found = await self.api.paginate(
            "ec2",
            "DescribeSecurityGroups",
            "SecurityGroups",
            Filters=[{"Name": f"tag:{stack_tag_key(self.tag_prefix)}", "Values": [stack_id]}],
        )
        return [g["GroupId"] for g in found]

    def error_count(self, category: str) -> float:
        value = self.registry.get_sample_value(
            "awslbc_controller_reconcile_errors_total",
            {"controller": self.controller_name, "error_category": category},
        )
        return value or 0.0
