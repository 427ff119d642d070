"""Test harness: the TGB controller and the endpoint-SG controller wired against the Kubernetes API
stand-in (over HTTP) and moto behind the AWS-like proxy."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.ec2_types import IpPermission
from controller.endpointsg.aws_rules import from_rule
from controller.endpointsg.discovery import EndpointSGDiscovery
from controller.endpointsg.eni_sg import EniSGSelector
from controller.endpointsg.model import EndpointRule
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.endpointsg.startup_hold import StartupHold, StartupHoldSettings
from controller.naming import TGB_RULE_DESCRIPTION, cluster_tag_key
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.rules import expand_ip_permissions
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.seed import SandboxVpc
from controller.targetgroupbinding import (
    TARGET_GROUP_BINDINGS,
    BindingInformers,
    StackTargetGroups,
    TargetGroupBindingController,
    TargetGroupBindingSettings,
)
from framework import objects
from framework.clock import FakeClock
from framework.controller import Controller
from framework.events import EVENTS_V1, EventRecorder, EventRecorderSettings
from framework.informer import InformerFactory
from framework.kube import ENDPOINT_SLICES, NODES, PODS, SERVICES, KubeClient, KubeObject

CRD_PATH = pathlib.Path(__file__).resolve().parents[3] / "config/crd/elbv2.k8s.aws_targetgroupbindings.yaml"
NAMESPACE = "default"
AMI = "ami-12c6146b"
WAIT_SECONDS = 15.0
T = TypeVar("T")


async def install_crd(client: KubeClient) -> None:
    crd = yaml.safe_load(CRD_PATH.read_text())
    await client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)


@dataclass
class Harness:
    client: KubeClient
    api: AwsApi
    vpc: SandboxVpc
    clock: FakeClock
    registry: CollectorRegistry
    factory: InformerFactory
    informers: BindingInformers
    ownership: RuleOwnership
    reader: SecurityGroupReader
    sg_controller: Controller[str]
    events: EventRecorder
    stack_target_groups: StackTargetGroups
    tgb: TargetGroupBindingController

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.factory.start()
        assert await self.factory.wait_for_sync(WAIT_SECONDS)
        self.events.start()
        self.sg_controller.start()
        self.tgb.start()

    async def stop(self) -> None:
        await self.tgb.stop(timeout=5.0)
        await self.sg_controller.stop(timeout=5.0)
        await self.events.stop(timeout=5.0)
        await self.factory.stop()
        await self.reader.aclose()

    async def eventually(self, probe: Callable[[], Awaitable[T]], what: str) -> T:
        """Poll ``probe`` until it returns without AssertionError, moving virtual time a little each
        round so the controllers' short retry backoffs (5 ms doubling) can elapse."""
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while True:
            try:
                return await probe()
            except AssertionError:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"timed out waiting for {what}") from None
            self.clock.advance(0.05)
            await asyncio.sleep(0.05)

    # ----------------------------------------------------------------------------- AWS

    async def security_group(self, name: str, *, cluster_tagged: bool = False) -> str:
        params: dict[str, Any] = {"GroupName": name, "Description": name, "VpcId": self.vpc.vpc_id}
        if cluster_tagged:
            params["TagSpecifications"] = [
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": cluster_tag_key(self.vpc.cluster_name), "Value": "owned"}],
                }
            ]
        return str((await self.api.call("ec2", "CreateSecurityGroup", **params))["GroupId"])

    async def instance(self, *sgs: str) -> str:
        response = await self.api.call(
            "ec2",
            "RunInstances",
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            SubnetId=self.vpc.subnet_ids[0],
            SecurityGroupIds=list(sgs),
        )
        return str(response["Instances"][0]["InstanceId"])

    async def branch_eni(self, *sgs: str) -> tuple[str, str]:
        """An ENI (SG-for-pods style) and its private IP."""
        response = await self.api.call(
            "ec2", "CreateNetworkInterface", SubnetId=self.vpc.subnet_ids[0], Groups=list(sgs)
        )
        eni = response["NetworkInterface"]
        return str(eni["NetworkInterfaceId"]), str(eni["PrivateIpAddress"])

    async def target_group(self, name: str, target_type: str, port: int = 80) -> str:
        response = await self.api.call(
            "elbv2",
            "CreateTargetGroup",
            Name=name,
            Protocol="TCP",
            Port=port,
            VpcId=self.vpc.vpc_id,
            TargetType=target_type,
        )
        return str(response["TargetGroups"][0]["TargetGroupArn"])

    async def targets(self, arn: str) -> set[tuple[str, int]]:
        response = await self.api.call("elbv2", "DescribeTargetHealth", TargetGroupArn=arn)
        return {
            (d["Target"]["Id"], int(d["Target"]["Port"]))
            for d in response["TargetHealthDescriptions"]
            if d["TargetHealth"]["State"] != "draining"
        }

    async def labelled_rules(self, sg: str) -> set[EndpointRule]:
        groups = await self.api.paginate(
            "ec2", "DescribeSecurityGroups", "SecurityGroups", Filters=[{"Name": "group-id", "Values": [sg]}]
        )
        rules = expand_ip_permissions(IpPermission.from_aws(p) for p in groups[0].get("IpPermissions") or ())
        found = {from_rule(r) for r in rules if r.description == TGB_RULE_DESCRIPTION}
        return {r for r in found if r is not None}

    # ----------------------------------------------------------------------------- Kubernetes

    async def create_node(
        self, name: str, instance_id: str, *, ready: bool = True, labels: dict[str, str] | None = None
    ) -> None:
        await self.client.create(
            NODES,
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": labels or {}},
                "spec": {"providerID": f"aws:///{self.vpc.region}a/{instance_id}"},
            },
        )
        status = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
        await objects.patch_status(self.client, NODES, name, None, status)

    async def create_service(
        self, name: str, ports: list[dict[str, Any]], svc_type: str = "NodePort"
    ) -> None:
        await self.client.create(
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"type": svc_type, "selector": {"app": name}, "ports": ports},
            },
            NAMESPACE,
        )

    async def create_pod(
        self,
        name: str,
        ip: str,
        *,
        node: str = "",
        annotations: dict[str, str] | None = None,
        ports: list[dict[str, Any]] | None = None,
    ) -> None:
        """A running pod; its one container declares ``ports`` (default: ``http`` = 8080)."""
        declared = [{"name": "http", "containerPort": 8080}] if ports is None else ports
        await self.client.create(
            PODS,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "annotations": annotations or {}},
                "spec": {
                    "nodeName": node,
                    "containers": [{"name": "app", "image": "app", "ports": declared}],
                },
            },
            NAMESPACE,
        )
        await objects.patch_status(
            self.client, PODS, name, NAMESPACE, {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        )

    async def create_slice(
        self, service: str, endpoints: list[tuple[str, str | None, bool]], port: int, port_name: str = ""
    ) -> None:
        """``endpoints``: (ip, pod name or None, ready)."""
        await self.client.create(
            ENDPOINT_SLICES,
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": f"{service}-abc", "labels": {"kubernetes.io/service-name": service}},
                "addressType": "IPv4",
                "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
                "endpoints": [
                    {
                        "addresses": [ip],
                        "conditions": {"ready": ready},
                        **(
                            {"targetRef": {"kind": "Pod", "name": pod, "namespace": NAMESPACE}} if pod else {}
                        ),
                    }
                    for ip, pod, ready in endpoints
                ],
            },
            NAMESPACE,
        )

    async def create_binding(
        self,
        name: str,
        *,
        arn: str,
        target_type: str,
        service: str,
        port: int | str,
        networking: dict[str, Any] | None = None,
    ) -> KubeObject:
        spec: dict[str, Any] = {
            "targetGroupARN": arn,
            "targetType": target_type,
            "serviceRef": {"name": service, "port": port},
        }
        if networking is not None:
            spec["networking"] = networking
        return await self.client.create(
            TARGET_GROUP_BINDINGS,
            {
                "apiVersion": TARGET_GROUP_BINDINGS.api_version,
                "kind": TARGET_GROUP_BINDINGS.kind,
                "metadata": {"name": name},
                "spec": spec,
            },
            NAMESPACE,
        )

    async def binding(self, name: str) -> KubeObject:
        return await self.client.get(TARGET_GROUP_BINDINGS, name, NAMESPACE)

    async def events_for(self, name: str) -> list[KubeObject]:
        listed = await self.client.list(EVENTS_V1, NAMESPACE)
        return [e for e in listed["items"] if e["regarding"]["name"] == name]


def build_harness(
    client: KubeClient,
    api: AwsApi,
    vpc: SandboxVpc,
    *,
    requeue_duration: float = 15.0,
    startup_hold: StartupHoldSettings | None = None,
) -> Harness:
    """``startup_hold``: hold the endpoint-SG passes at start-up as the process does (None: no hold)."""
    clock = FakeClock()
    registry = CollectorRegistry()
    factory = InformerFactory(client)
    informers = BindingInformers.from_factory(factory)

    def enqueue(sg_id: str) -> None:
        sg_controller.queue.add(sg_id)

    ownership = RuleOwnership(enqueue, max_port_ranges_per_source=4)
    reader = SecurityGroupReader(api)
    sg_controller: Controller[str] = Controller(
        "endpointSecurityGroup",
        EndpointSGReconciler(
            ownership,
            SecurityGroupRuleReconciler(api, reader),
            clock=clock,
            startup_hold=(
                StartupHold(ownership, clock=clock, settings=startup_hold)
                if startup_hold is not None
                else None
            ),
        ),
        clock=clock,
        registry=registry,
    )
    discovery = EndpointSGDiscovery(
        api, vpc_id=vpc.vpc_id, selector=EniSGSelector(vpc.cluster_name), reader=reader, clock=clock
    )
    events = EventRecorder(client, EventRecorderSettings(reporting_instance="test-controller"), clock=clock)
    stack_target_groups = StackTargetGroups()
    tgb = TargetGroupBindingController(
        client=client,
        informers=informers,
        aws=api,
        discovery=discovery,
        ownership=ownership,
        events=events,
        stack_target_groups=stack_target_groups,
        settings=TargetGroupBindingSettings(max_concurrent_reconciles=2, requeue_duration=requeue_duration),
        clock=clock,
        registry=registry,
    )
    return Harness(
        client=client,
        api=api,
        vpc=vpc,
        clock=clock,
        registry=registry,
        factory=factory,
        informers=informers,
        ownership=ownership,
        reader=reader,
        sg_controller=sg_controller,
        events=events,
        stack_target_groups=stack_target_groups,
        tgb=tgb,
    )
