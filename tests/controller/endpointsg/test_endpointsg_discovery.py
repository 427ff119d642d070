"""Endpoint SG discovery: node → primary ENI, pod → ENI, one SG per ENI (upstream-behaviour §4.3, scenarios 41-43)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from controller.aws.api import AwsApi
from controller.endpointsg.discovery import (
    EndpointDiscoveryError,
    EndpointSGDiscovery,
    EniInfo,
    instance_id_from_provider_id,
)
from controller.endpointsg.eni_sg import EniSecurityGroupError, EniSGSelector
from controller.naming import cluster_tag_key
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.clock import FakeClock

CLUSTER = "c"


# ---------------------------------------------------------------------------- pure selection


def test_single_sg_is_used_without_a_tag_check() -> None:
    # Scenario 43.
    assert EniSGSelector(CLUSTER).select("eni-1", ["sg-1"], {}) == "sg-1"


def test_the_one_cluster_tagged_sg_wins() -> None:
    # Scenario 41.
    tags = {"sg-1": {cluster_tag_key(CLUSTER): "owned"}, "sg-2": {}}
    assert EniSGSelector(CLUSTER).select("eni-1", ["sg-2", "sg-1"], tags) == "sg-1"


def test_two_tagged_sgs_are_an_error_in_upstream_words() -> None:
    # Scenario 42 / known-issue theme 1.
    tags = {"sg-1": {cluster_tag_key(CLUSTER): "owned"}, "sg-2": {cluster_tag_key(CLUSTER): "shared"}}
    with pytest.raises(EniSecurityGroupError) as raised:
        EniSGSelector(CLUSTER).select("eni-1", ["sg-1", "sg-2"], tags)
    assert str(raised.value) == (
        "expected exactly one securityGroup tagged with kubernetes.io/cluster/c for eni eni-1, "
        "got: [sg-1 sg-2] (clusterName: c)"
    )


def test_zero_sgs_is_the_same_error() -> None:
    with pytest.raises(EniSecurityGroupError, match=r"for eni eni-1, got: \[\] \(clusterName: c\)"):
        EniSGSelector(CLUSTER).select("eni-1", [], {})


def test_extra_tags_narrow_the_candidates() -> None:
    tagged = {cluster_tag_key(CLUSTER): "owned"}
    tags = {"sg-1": {**tagged, "role": "node"}, "sg-2": tagged}
    selector = EniSGSelector(CLUSTER, {"role": "node"})
    assert selector.select("eni-1", ["sg-1", "sg-2"], tags) == "sg-1"
    with pytest.raises(EniSecurityGroupError, match=r"kubernetes.io/cluster/c and map\[role:node\]"):
        selector.select("eni-1", ["sg-2", "sg-3"], tags)


def test_provider_id_parsing() -> None:
    assert instance_id_from_provider_id("aws:///us-west-2a/i-0abc") == "i-0abc"
    assert instance_id_from_provider_id("gce://p/z/n") is None
    assert instance_id_from_provider_id("aws:///us-west-2a/fargate-ip-10-0-0-1") is None


# ---------------------------------------------------------------------------- against moto


@dataclass
class Fleet:
    api: AwsApi
    proxy: AwsProxy
    vpc: SandboxVpc
    ami: str
    reader: SecurityGroupReader
    clock: FakeClock

    async def sg(self, name: str, tagged: bool = False, **extra: str) -> str:
        tags = {**({cluster_tag_key(self.vpc.cluster_name): "owned"} if tagged else {}), **extra}
        params: dict[str, Any] = {"GroupName": name, "Description": name, "VpcId": self.vpc.vpc_id}
        if tags:
            params["TagSpecifications"] = [
                {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        return str((await self.api.call("ec2", "CreateSecurityGroup", **params))["GroupId"])

    async def instance(self, *sgs: str) -> dict[str, Any]:
        response = await self.api.call(
            "ec2",
            "RunInstances",
            ImageId=self.ami,
            MinCount=1,
            MaxCount=1,
            SubnetId=self.vpc.subnet_ids[0],
            SecurityGroupIds=list(sgs),
        )
        instance: dict[str, Any] = response["Instances"][0]
        return instance

    async def eni(self, *sgs: str, secondary: int = 0) -> dict[str, Any]:
        response = await self.api.call(
            "ec2",
            "CreateNetworkInterface",
            SubnetId=self.vpc.subnet_ids[0],
            Groups=list(sgs),
            SecondaryPrivateIpAddressCount=secondary,
        )
        eni: dict[str, Any] = response["NetworkInterface"]
        return eni

    def discovery(self, **selector_tags: str) -> EndpointSGDiscovery:
        return EndpointSGDiscovery(
            self.api,
            vpc_id=self.vpc.vpc_id,
            selector=EniSGSelector(self.vpc.cluster_name, selector_tags),
            reader=self.reader,
            clock=self.clock,
        )


def node(
    name: str, instance_id: str, *, uid: str | None = None, compute_type: str | None = None
) -> dict[str, Any]:
    labels = {"eks.amazonaws.com/compute-type": compute_type} if compute_type else {}
    return {
        "metadata": {"name": name, "uid": uid or f"uid-{name}", "labels": labels},
        "spec": {"providerID": f"aws:///us-west-2a/{instance_id}"},
    }


def pod(name: str, ip: str, node_name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "annotations": annotations or {}},
        "spec": {"nodeName": node_name},
        "status": {"podIP": ip, "podIPs": [{"ip": ip}]},
    }


@pytest_asyncio.fixture
async def fleet(aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc) -> AsyncIterator[Fleet]:
    reader = SecurityGroupReader(aws_api)
    # moto launches any AMI id; it does not need to be registered.
    yield Fleet(aws_api, aws_proxy, sandbox_vpc, "ami-12345678", reader, FakeClock())
    await reader.aclose()


async def test_node_resolves_to_its_primary_eni_sg_and_is_cached_by_uid(fleet: Fleet) -> None:
    node_sg = await fleet.sg("node")
    instance = await fleet.instance(node_sg)
    discovery = fleet.discovery()
    nodes = [node("n1", instance["InstanceId"])]
    assert await discovery.sgs_for_nodes(nodes) == {"n1": node_sg}
    fleet.proxy.reset_counts()
    assert await discovery.sgs_for_nodes(nodes) == {"n1": node_sg}
    assert fleet.proxy.calls_by_operation()["DescribeInstances"] == 0
    fleet.clock.advance(601)  # past the 10-minute TTL
    assert await discovery.sgs_for_nodes(nodes) == {"n1": node_sg}
    assert fleet.proxy.calls_by_operation()["DescribeInstances"] == 1


async def test_node_eni_with_several_sgs_uses_the_cluster_tagged_one(fleet: Fleet) -> None:
    tagged, untagged = await fleet.sg("tagged", tagged=True), await fleet.sg("plain")
    instance = await fleet.instance(untagged, tagged)
    assert await fleet.discovery().sgs_for_nodes([node("n1", instance["InstanceId"])]) == {"n1": tagged}


async def test_node_eni_with_two_tagged_sgs_is_an_error_naming_eni_and_candidates(fleet: Fleet) -> None:
    a, b = await fleet.sg("a", tagged=True), await fleet.sg("b", tagged=True)
    instance = await fleet.instance(a, b)
    with pytest.raises(EniSecurityGroupError) as raised:
        await fleet.discovery().sgs_for_nodes([node("n1", instance["InstanceId"])])
    eni_id = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert f"for eni {eni_id}, got: [{' '.join(sorted([a, b]))}]" in str(raised.value)
    assert f"(clusterName: {fleet.vpc.cluster_name})" in str(raised.value)


async def test_extra_eni_tags_disambiguate(fleet: Fleet) -> None:
    a, b = await fleet.sg("a", tagged=True, role="node"), await fleet.sg("b", tagged=True)
    instance = await fleet.instance(a, b)
    found = await fleet.discovery(role="node").sgs_for_nodes([node("n1", instance["InstanceId"])])
    assert found == {"n1": a}


async def test_unresolvable_node_is_named(fleet: Fleet) -> None:
    broken = {"metadata": {"name": "n-x", "uid": "u"}, "spec": {"providerID": "gce://x/y/z"}}
    with pytest.raises(EndpointDiscoveryError, match=r"cannot resolve node ENI for nodes: \[n-x\]"):
        await fleet.discovery().sgs_for_nodes([broken])


async def test_pods_on_node_enis_branch_enis_and_fargate(fleet: Fleet) -> None:
    # moto adds the instance's SGs to an ENI it attaches, so the secondary ENI ends up with two
    # SGs; the cluster tag picks the right one, as on a real node with custom networking.
    node_sg, secondary_sg, branch_sg, fargate_sg = (
        await fleet.sg("node"),
        await fleet.sg("secondary", tagged=True),
        await fleet.sg("branch"),
        await fleet.sg("fargate"),
    )
    instance = await fleet.instance(node_sg)
    extra = await fleet.eni(secondary_sg, secondary=2)
    await fleet.api.call(
        "ec2",
        "AttachNetworkInterface",
        NetworkInterfaceId=extra["NetworkInterfaceId"],
        InstanceId=instance["InstanceId"],
        DeviceIndex=1,
    )
    secondary_ip = next(a["PrivateIpAddress"] for a in extra["PrivateIpAddresses"] if not a["Primary"])
    branch = await fleet.eni(branch_sg)
    fargate_eni = await fleet.eni(fargate_sg)
    nodes = {
        "n1": node("n1", instance["InstanceId"]),
        "fargate-n": node("fargate-n", "i-none", compute_type="fargate"),
        "hybrid-n": node("hybrid-n", "i-none", compute_type="hybrid"),
    }
    annotation = json.dumps(
        [{"eniId": branch["NetworkInterfaceId"], "privateIp": branch["PrivateIpAddress"]}]
    )
    pods = [
        pod("on-node", secondary_ip, "n1"),
        pod("branch", branch["PrivateIpAddress"], "n1", {"vpc.amazonaws.com/pod-eni": annotation}),
        pod("fargate", fargate_eni["PrivateIpAddress"], "fargate-n"),
        pod("hybrid", "192.168.0.9", "hybrid-n"),
    ]
    discovery = fleet.discovery()
    assert await discovery.sgs_for_pods(pods, nodes) == {
        "ns/on-node": secondary_sg,
        "ns/branch": branch_sg,
        "ns/fargate": fargate_sg,
    }
    fleet.proxy.reset_counts()
    await discovery.sgs_for_pods(pods, nodes)
    calls = fleet.proxy.calls_by_operation()
    assert calls["DescribeInstances"] == 0 and calls["DescribeNetworkInterfaces"] == 0  # cached per pod UID


async def test_fargate_ips_are_looked_up_in_chunks_of_199(fleet: Fleet) -> None:
    nodes = {"f": node("f", "i-none", compute_type="fargate")}
    pods = [pod(f"p{i}", f"10.0.9.{i % 250}" if i < 250 else f"10.0.8.{i - 250}", "f") for i in range(400)]
    with pytest.raises(EndpointDiscoveryError, match="cannot resolve pod ENI for pods"):
        await fleet.discovery().sgs_for_pods(pods, nodes)
    assert fleet.proxy.calls_by_operation()["DescribeNetworkInterfaces"] == 3  # ceil(400 / 199)


def test_an_invalid_ip_is_held_by_no_eni() -> None:
    eni = EniInfo("eni-1", ("sg-1",), 0, frozenset({"10.0.0.5"}), (ipaddress.ip_network("10.0.1.0/28"),))
    assert eni.holds("10.0.0.5") and eni.holds("10.0.1.3")
    for bad in ("", "not-an-ip", "10.0.1.300", "10.0.1.0/28"):
        assert not eni.holds(bad)


async def test_a_pod_with_an_invalid_ip_is_unresolved_not_a_crash(fleet: Fleet) -> None:
    node_sg = await fleet.sg("node")
    instance = await fleet.instance(node_sg)
    nodes = {"n1": node("n1", instance["InstanceId"])}
    good_ip = instance["NetworkInterfaces"][0]["PrivateIpAddress"]
    pods = [pod("good", good_ip, "n1"), pod("bad", "not-an-ip", "n1")]
    with pytest.raises(EndpointDiscoveryError, match=r"cannot resolve pod ENI for pods: \[ns/bad\]"):
        await fleet.discovery().sgs_for_pods(pods, nodes)
    assert await fleet.discovery().sgs_for_pods(pods[:1], nodes) == {"ns/good": node_sg}
