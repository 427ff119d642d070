"""config/samples/ in the sandbox: what the samples name exists there, every sample applies, and
convergence is judged from the objects' status and the controller's queues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from controller.aws.client import AwsClient
from controller.sandbox.cluster import apply_crds, create_alb_ingress_class
from controller.sandbox.convergence import not_converged
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.progress import ControllerNumbers, Progress
from controller.sandbox.samples import apply_samples, create_sample_dependencies, sample_documents
from controller.sandbox.seed import SandboxVpc, seed_vpc
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.kube import INGRESS_CLASSES, INGRESSES, SERVICES, KubeClient
from framework.testing.apiserver import StandInApiServer

QUIET = Progress(controller=ControllerNumbers(reconciled=1, failed=0, pending=0), aws=None, aws_calls=0)


def binding_sample() -> dict[str, Any]:
    [binding] = [d for d in sample_documents() if d["kind"] == "TargetGroupBinding"]
    return binding


async def test_the_sandbox_creates_the_target_group_and_sg_the_binding_sample_names(
    fresh_moto: MotoServer, aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    await seed_vpc(aws_api, cidr="10.9.0.0/16")  # more calls before: the ids do not depend on them
    created = await create_sample_dependencies(aws_api, fresh_moto, sandbox_vpc)
    spec = binding_sample()["spec"]
    assert spec["targetGroupARN"] == created.target_group_arn
    [rule] = spec["networking"]["ingress"]
    assert rule["from"] == [{"securityGroup": {"groupID": created.source_security_group_id}}]
    [group] = (
        await aws_api.call("ec2", "DescribeSecurityGroups", GroupIds=[created.source_security_group_id])
    )["SecurityGroups"]
    assert group["VpcId"] == sandbox_vpc.vpc_id and group["GroupName"] == "echo-clients"
    [target_group] = (
        await aws_api.call("elbv2", "DescribeTargetGroups", TargetGroupArns=[created.target_group_arn])
    )["TargetGroups"]
    assert target_group["VpcId"] == sandbox_vpc.vpc_id and target_group["TargetType"] == "instance"


@pytest_asyncio.fixture
async def kube(standin_server: StandInApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as client:
        await apply_crds(client)
        await create_alb_ingress_class(client)  # as the sandbox does: applying it again patches it
        yield client


async def test_every_sample_applies_twice_as_kubectl_apply_would(kube: KubeClient) -> None:
    assert await apply_samples(kube) == len(sample_documents()) == 4
    assert await apply_samples(kube) == 4
    assert (await kube.get(INGRESS_CLASSES, "alb"))["spec"]["controller"] == "ingress.k8s.aws/alb"
    assert (await kube.get(INGRESSES, "echo", "default"))["spec"]["ingressClassName"] == "alb"
    assert (await kube.get(SERVICES, "echo", "default"))["spec"]["type"] == "NodePort"
    binding = await kube.get(TARGET_GROUP_BINDINGS, "echo-tgb", "default")
    assert binding["spec"]["targetGroupARN"] == binding_sample()["spec"]["targetGroupARN"]


async def test_converged_once_every_status_caught_up_and_the_queues_are_empty(kube: KubeClient) -> None:
    await apply_samples(kube)
    assert await not_converged(kube, QUIET) == [
        "Ingress default/echo has no hostname",
        "TargetGroupBinding default/echo-tgb has observedGeneration None, generation 1",
    ]
    ingress = await kube.get(INGRESSES, "echo", "default")
    ingress["status"] = {"loadBalancer": {"ingress": [{"hostname": "echo.elb.amazonaws.com"}]}}
    await kube.request("PUT", INGRESSES.object_path("echo", "default") + "/status", body=ingress)
    binding = await kube.get(TARGET_GROUP_BINDINGS, "echo-tgb", "default")
    binding["status"] = {"observedGeneration": 1}
    await kube.request(
        "PUT", TARGET_GROUP_BINDINGS.object_path("echo-tgb", "default") + "/status", body=binding
    )
    assert await not_converged(kube, QUIET) == []
    busy = Progress(controller=ControllerNumbers(reconciled=1, failed=0, pending=2), aws=None, aws_calls=0)
    assert await not_converged(kube, busy) == ["2 item(s) still queued"]
    unknown = Progress(controller=None, aws=None, aws_calls=0)
    assert await not_converged(kube, unknown) == ["the controller's /metrics did not answer"]


def load_balancer_service(name: str, load_balancer_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    }


async def test_only_services_we_give_an_nlb_must_have_a_hostname(kube: KubeClient) -> None:
    await kube.create(SERVICES, load_balancer_service("ours", "service.k8s.aws/nlb"), "default")
    await kube.create(SERVICES, load_balancer_service("theirs", "example.com/other"), "default")
    assert await not_converged(kube, QUIET) == ["Service default/ours has no hostname"]
