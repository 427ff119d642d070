"""config/samples/ in the sandbox: what the samples name exists there, every sample applies, and
convergence is judged from the objects' status and the controller's queues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from controller.aws.client import AwsClient
from controller.gateway.resources import GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES, LOAD_BALANCER_CONFIGURATIONS
from controller.sandbox.cluster import (
    GATEWAY_API_CRD_DIR,
    apply_crds,
    apply_gateway_crds,
    create_alb_ingress_class,
    gateway_api_crds_fetched,
)
from controller.sandbox.convergence import not_converged
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.progress import ControllerNumbers, Progress
from controller.sandbox.samples import (
    GATEWAY_SAMPLES_DIR,
    apply_samples,
    create_sample_dependencies,
    sample_documents,
)
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


@pytest_asyncio.fixture
async def gateway_kube(kube: KubeClient) -> KubeClient:
    """The stand-in with the Gateway CRDs installed, as ``make run`` installs them."""
    if not gateway_api_crds_fetched():
        pytest.fail(f"the Gateway API CRDs are not in {GATEWAY_API_CRD_DIR}: run `make gateway-api-crds`")
    await apply_gateway_crds(kube)
    return kube


async def test_the_gateway_sample_applies_twice_as_kubectl_apply_would(gateway_kube: KubeClient) -> None:
    kube = gateway_kube
    # Its own directory: `kubectl apply -f config/samples/` and docker-compose do not apply it.
    assert not any(d["apiVersion"].startswith("gateway.") for d in sample_documents())
    assert await apply_samples(kube, GATEWAY_SAMPLES_DIR) == len(sample_documents(GATEWAY_SAMPLES_DIR)) == 5
    assert await apply_samples(kube, GATEWAY_SAMPLES_DIR) == 5
    config = await kube.get(LOAD_BALANCER_CONFIGURATIONS, "aws-alb", "default")
    # Internet-facing: the sandbox's subnets are tagged for public load balancers only.
    assert config["spec"] == {"scheme": "internet-facing", "sourceRanges": ["10.0.0.0/8"]}
    gateway_class = await kube.get(GATEWAY_CLASSES, "aws-alb")
    assert gateway_class["spec"]["controllerName"] == "gateway.k8s.aws/alb"
    assert gateway_class["spec"]["parametersRef"]["name"] == "aws-alb"
    gateway = await kube.get(GATEWAYS, "echo-gateway", "default")
    assert gateway["spec"]["gatewayClassName"] == "aws-alb"
    # The API server fills in the CRD's defaults (allowedRoutes, parentRef group and kind...).
    [listener] = gateway["spec"]["listeners"]
    assert {k: listener[k] for k in ("name", "protocol", "port")} == {
        "name": "http",
        "protocol": "HTTP",
        "port": 80,
    }
    route = await kube.get(HTTP_ROUTES, "echo", "default")
    assert [ref["name"] for ref in route["spec"]["parentRefs"]] == ["echo-gateway"]
    [rule] = route["spec"]["rules"]
    assert [(ref["name"], ref["port"]) for ref in rule["backendRefs"]] == [("echo-gateway", 80)]
    assert (await kube.get(SERVICES, "echo-gateway", "default"))["spec"]["type"] == "NodePort"


async def _write_gateway_status(kube: KubeClient, name: str, status: dict[str, Any]) -> None:
    gateway = await kube.get(GATEWAYS, name, "default")
    gateway["status"] = status
    await kube.request("PUT", GATEWAYS.object_path(name, "default") + "/status", body=gateway)


PROGRAMMED = {
    "type": "Programmed",
    "status": "True",
    "reason": "Programmed",
    "message": "arn",
    "lastTransitionTime": "2026-01-01T00:00:00Z",  # required by the CRD's status schema
}


async def test_a_gateway_of_ours_converges_once_programmed_with_an_address(gateway_kube: KubeClient) -> None:
    kube = gateway_kube
    await apply_samples(kube, GATEWAY_SAMPLES_DIR)
    # Another controller's Gateway is never programmed by us: not waited for.
    await kube.create(
        GATEWAY_CLASSES,
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "other"},
            "spec": {"controllerName": "example.com/gateway"},
        },
    )
    await kube.create(
        GATEWAYS,
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "theirs"},
            "spec": {
                "gatewayClassName": "other",
                "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
            },
        },
        "default",
    )
    waiting = ["Gateway default/echo-gateway is not Programmed with an address"]
    assert await not_converged(kube, QUIET) == waiting
    await _write_gateway_status(
        kube, "echo-gateway", {"conditions": [{**PROGRAMMED, "status": "False", "reason": "Pending"}]}
    )
    assert await not_converged(kube, QUIET) == waiting
    await _write_gateway_status(kube, "echo-gateway", {"conditions": [PROGRAMMED]})
    assert await not_converged(kube, QUIET) == waiting  # Programmed, but no address yet
    address = {"type": "Hostname", "value": "echo.elb.amazonaws.com"}
    await _write_gateway_status(kube, "echo-gateway", {"conditions": [PROGRAMMED], "addresses": [address]})
    assert await not_converged(kube, QUIET) == []
