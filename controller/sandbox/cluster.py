"""Seed a sandbox cluster: EC2 worker instances, their Node objects, our CRD and IngressClass.

Used by ``make run`` and by the end-to-end tests, so both start from the same world: nodes whose
``spec.providerID`` points at real (moto) instances, whose primary ENIs carry one security group
tagged ``kubernetes.io/cluster/<cluster>=owned`` (the endpoint SG our rules go to).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.aws.api import AwsApi
from controller.naming import cluster_tag_key
from controller.sandbox.seed import SandboxVpc
from framework.kube import INGRESS_CLASSES, NODES, KubeApiError, KubeClient, Resource

CRD_DIR = Path(__file__).resolve().parents[2] / "config" / "crd"
GATEWAY_CRD_DIR = CRD_DIR / "gateway"
"""Upstream's gateway.k8s.aws CRDs (LoadBalancerConfiguration...): needed only for Gateways."""
GATEWAY_API_CRD_DIR = (
    Path(os.environ.get("GATEWAY_API_DIR") or Path(__file__).resolve().parents[2] / ".cache" / "gateway-api")
    / "crds"
)
"""The Gateway API's own CRDs, fetched from the Go module by ``tools/gateway-api/fetch.sh``."""
CRDS: Resource = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)
# How long a new CRD may take to be Established (served) on a real kube-apiserver.
CRD_ESTABLISHED_TIMEOUT_S = 30.0
# moto ships this AMI id without loading its default AMI catalogue.
SANDBOX_AMI = "ami-12c6146b"


@dataclass(frozen=True)
class SandboxNode:
    name: str
    instance_id: str
    private_ip: str
    availability_zone: str


@dataclass(frozen=True)
class SandboxCluster:
    vpc: SandboxVpc
    node_security_group_id: str
    nodes: tuple[SandboxNode, ...]


async def create_node_security_group(aws: AwsApi, vpc: SandboxVpc) -> str:
    """The worker nodes' SG, tagged for the cluster like EKS managed node groups tag theirs."""
    created = await aws.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName=f"{vpc.cluster_name}-nodes",
        Description="sandbox worker nodes",
        VpcId=vpc.vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": cluster_tag_key(vpc.cluster_name), "Value": "owned"},
                    {"Key": "Name", "Value": f"{vpc.cluster_name}-nodes"},
                ],
            }
        ],
    )
    return str(created["GroupId"])


async def launch_nodes(aws: AwsApi, vpc: SandboxVpc, node_sg: str, count: int) -> tuple[SandboxNode, ...]:
    """One instance per node, spread over the VPC's subnets."""
    subnets = await aws.call("ec2", "DescribeSubnets", SubnetIds=list(vpc.subnet_ids))
    zone_by_subnet = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets["Subnets"]}
    nodes: list[SandboxNode] = []
    for index in range(count):
        subnet_id = vpc.subnet_ids[index % len(vpc.subnet_ids)]
        reservation = await aws.call(
            "ec2",
            "RunInstances",
            ImageId=SANDBOX_AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType="m5.large",
            SubnetId=subnet_id,
            SecurityGroupIds=[node_sg],
        )
        instance = reservation["Instances"][0]
        nodes.append(
            SandboxNode(
                name=f"node-{index}",
                instance_id=str(instance["InstanceId"]),
                private_ip=str(instance["PrivateIpAddress"]),
                availability_zone=zone_by_subnet[subnet_id],
            )
        )
    return tuple(nodes)


def node_object(node: SandboxNode) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "topology.kubernetes.io/zone": node.availability_zone,
            },
        },
        "spec": {"providerID": f"aws:///{node.availability_zone}/{node.instance_id}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node.private_ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


# libyaml's loader when PyYAML has it: the Gateway API CRDs are ~850 kB of YAML, which the pure
# Python loader takes seconds to read, at every sandbox start and in every test that installs them.
_YAML_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_documents(crd_dir: Path = CRD_DIR) -> list[dict[str, Any]]:
    """Every CRD manifest in ``crd_dir`` (kustomize's own file is not one)."""
    return [
        document
        for path in sorted(crd_dir.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.load_all(path.read_text(), Loader=_YAML_LOADER)
        if document
    ]


async def apply_crds(kube: KubeClient, crd_dir: Path = CRD_DIR) -> None:
    """Create our CRDs (every manifest in ``crd_dir``) and wait until each is Established: until then a real kube-apiserver
    answers 404 for the new resources, so objects of them cannot be created yet."""
    names: list[str] = []
    for document in crd_documents(crd_dir):
        await _create_if_absent(kube, CRDS, document)
        names.append(str(document["metadata"]["name"]))
    try:
        async with asyncio.timeout(CRD_ESTABLISHED_TIMEOUT_S):
            for name in names:
                # Polled: the condition is set by the server, there is nothing local to wait on.
                while True:
                    if _established(await kube.get(CRDS, name, request_timeout=10)):
                        break
                    await asyncio.sleep(0.1)
    except TimeoutError:
        raise RuntimeError(f"CRDs {names} not Established within {CRD_ESTABLISHED_TIMEOUT_S:.0f}s") from None


def gateway_api_crds_fetched(gateway_api_crd_dir: Path = GATEWAY_API_CRD_DIR) -> bool:
    """Whether ``make gateway-api-crds`` has put the Gateway API CRDs in ``gateway_api_crd_dir``."""
    return (gateway_api_crd_dir / "kustomization.yaml").is_file()


async def apply_gateway_crds(
    kube: KubeClient,
    gateway_api_crd_dir: Path = GATEWAY_API_CRD_DIR,
    gateway_crd_dir: Path = GATEWAY_CRD_DIR,
) -> None:
    """The Gateway API CRDs and our gateway.k8s.aws ones, Established: both must be served when the
    controller starts, which is when it decides whether to run its Gateway controllers."""
    if not gateway_api_crds_fetched(gateway_api_crd_dir):
        # An empty directory would install nothing and the Gateways would silently never work.
        raise FileNotFoundError(
            f"the Gateway API CRDs are not in {gateway_api_crd_dir}: run `make gateway-api-crds`"
        )
    await apply_crds(kube, gateway_api_crd_dir)
    await apply_crds(kube, gateway_crd_dir)


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


async def register_nodes(kube: KubeClient, nodes: tuple[SandboxNode, ...]) -> None:
    for node in nodes:
        created = await _create_if_absent(kube, NODES, node_object(node))
        # A Node's status is written through its status subresource, as the kubelet does.
        body = dict(created)
        body["status"] = node_object(node)["status"]
        await kube.request("PUT", NODES.object_path(node.name) + "/status", body=body, request_timeout=10)


async def create_alb_ingress_class(kube: KubeClient) -> None:
    await _create_if_absent(
        kube,
        INGRESS_CLASSES,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "alb"},
            "spec": {"controller": "ingress.k8s.aws/alb"},
        },
    )


async def seed_cluster(
    aws: AwsApi, kube: KubeClient, vpc: SandboxVpc, *, node_count: int = 2, crd_dir: Path = CRD_DIR
) -> SandboxCluster:
    node_sg = await create_node_security_group(aws, vpc)
    nodes = await launch_nodes(aws, vpc, node_sg, node_count)
    await apply_crds(kube, crd_dir)
    await create_alb_ingress_class(kube)
    await register_nodes(kube, nodes)
    return SandboxCluster(vpc=vpc, node_security_group_id=node_sg, nodes=nodes)


async def _create_if_absent(kube: KubeClient, resource: Resource, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return await kube.create(resource, body, request_timeout=10)
    except KubeApiError as error:
        if error.status != 409:
            raise
        return await kube.get(resource, str(body["metadata"]["name"]), request_timeout=10)
