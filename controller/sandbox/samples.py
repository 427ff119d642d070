"""``config/samples/`` in the sandbox: what the samples need in AWS, and applying them (the Gateway
sample of ``config/samples/gateway/`` too, where the Gateway CRDs are installed).

The TargetGroupBinding sample binds a user-owned target group and opens the nodes to a user-owned
client SG: in a real account both exist before the binding does. The sandbox creates them, with the
very ARN and id the sample names, so the sample stays a realistic manifest (real-looking ids, not
placeholders the controller would reject) and still converges here unchanged. moto draws ids from
its random generator; seeding it right before creating the two makes them the same on every run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from controller.aws.api import AwsApi
from controller.gateway.resources import (
    ALB_ROUTES,
    GATEWAY_CLASSES,
    GATEWAYS,
    LISTENER_RULE_CONFIGURATIONS,
    LOAD_BALANCER_CONFIGURATIONS,
    NLB_ROUTES,
    TARGET_GROUP_CONFIGURATIONS,
)
from controller.sandbox.seed import SandboxVpc
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.kube import INGRESS_CLASSES, INGRESSES, SERVICES, KubeApiError, KubeClient, Resource

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "config" / "samples"
GATEWAY_SAMPLES_DIR = SAMPLES_DIR / "gateway"
"""The Gateway sample: a directory of its own, applied only where the Gateway CRDs are installed
(``make run`` with ``make gateway-api-crds`` done), since ``kubectl apply -f config/samples/`` and
docker-compose's ``samples`` service apply the files of ``config/samples/`` alone."""
# The seed that makes moto hand out the ids written in config/samples/targetgroupbinding.yaml.
SAMPLE_RANDOM_SEED = 14
SAMPLE_TARGET_GROUP_NAME = "echo"
SAMPLE_SOURCE_SG_NAME = "echo-clients"
_RESOURCES: dict[tuple[str, str], Resource] = {
    (r.api_version, r.kind): r
    for r in (
        INGRESS_CLASSES,
        INGRESSES,
        SERVICES,
        TARGET_GROUP_BINDINGS,
        GATEWAY_CLASSES,
        GATEWAYS,
        *ALB_ROUTES,
        *NLB_ROUTES,
        LOAD_BALANCER_CONFIGURATIONS,
        TARGET_GROUP_CONFIGURATIONS,
        LISTENER_RULE_CONFIGURATIONS,
    )
}
_TIMEOUT_S = 10.0


class MotoRandom(Protocol):
    """What seeds moto's id generator: ``MotoServer``, or ``MotoEndpoint`` for a moto elsewhere."""

    def seed_random(self, seed: int) -> None: ...


@dataclass(frozen=True)
class SampleDependencies:
    """What the samples name in AWS and the sandbox created."""

    target_group_arn: str
    source_security_group_id: str


async def create_sample_dependencies(aws: AwsApi, moto: MotoRandom, vpc: SandboxVpc) -> SampleDependencies:
    """The target group and the client SG of the TargetGroupBinding sample, in ``vpc``."""
    await asyncio.to_thread(moto.seed_random, SAMPLE_RANDOM_SEED)
    created = await aws.call(
        "elbv2",
        "CreateTargetGroup",
        Name=SAMPLE_TARGET_GROUP_NAME,
        Protocol="HTTP",
        Port=80,
        VpcId=vpc.vpc_id,
        TargetType="instance",
    )
    group = await aws.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName=SAMPLE_SOURCE_SG_NAME,
        Description="clients of the echo service (config/samples/targetgroupbinding.yaml)",
        VpcId=vpc.vpc_id,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": SAMPLE_SOURCE_SG_NAME}]}
        ],
    )
    return SampleDependencies(
        target_group_arn=str(created["TargetGroups"][0]["TargetGroupArn"]),
        source_security_group_id=str(group["GroupId"]),
    )


def sample_documents(directory: Path = SAMPLES_DIR) -> list[dict[str, Any]]:
    """Every object of every ``*.yaml`` in ``directory``, in file order (as ``kubectl apply -f``)."""
    documents: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def resource_of(document: dict[str, Any]) -> Resource:
    key = (str(document.get("apiVersion")), str(document.get("kind")))
    try:
        return _RESOURCES[key]
    except KeyError:
        raise ValueError(
            f"the sandbox cannot apply {key[1]} ({key[0]}): not a kind the samples use"
        ) from None


async def apply_document(kube: KubeClient, document: dict[str, Any]) -> None:
    """Create the object, or merge-patch it if it exists: what ``kubectl apply`` ends up sending
    for an object it did not create (the sandbox itself creates the ``alb`` IngressClass)."""
    resource = resource_of(document)
    metadata = document["metadata"]
    namespace = metadata.get("namespace", "default") if resource.namespaced else None
    try:
        await kube.create(resource, document, namespace, request_timeout=_TIMEOUT_S)
    except KubeApiError as error:
        if error.status != 409:
            raise
        await kube.request(
            "PATCH",
            resource.object_path(str(metadata["name"]), namespace),
            body=document,
            content_type="application/merge-patch+json",
            request_timeout=_TIMEOUT_S,
        )


async def apply_samples(kube: KubeClient, directory: Path = SAMPLES_DIR) -> int:
    """Apply every sample; returns how many objects were applied."""
    documents = sample_documents(directory)
    for document in documents:
        await apply_document(kube, document)
    return len(documents)
