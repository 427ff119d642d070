"""End to end: IngressClassParams beat the Ingress's annotations, a params change re-reconciles the
group, and an Ingress outside the params' namespaceSelector gets upstream's Warning and nothing in AWS.

IngressClasses and IngressClassParams are cluster-scoped and the session's kube-apiserver is shared:
this test names both after its own namespace and deletes them at the end.
"""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from e2e_harness import StartController, controller_log_on_failure, delete_ingresses_and_wait, wait_for
from e2e_objects import create_node_port_service, ingress_manifest, ingress_rules

from controller.aws.client import AwsClient
from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS
from controller.sandbox.cluster import SandboxCluster
from framework.kube import (
    INGRESS_CLASSES,
    INGRESSES,
    MERGE_PATCH_CONTENT_TYPE,
    NAMESPACES,
    KubeApiError,
    KubeClient,
)

SCHEME = "alb.ingress.kubernetes.io/scheme"
INBOUND_CIDRS = "alb.ingress.kubernetes.io/inbound-cidrs"


async def _merge_patch(kube: KubeClient, path: str, body: dict[str, Any]) -> None:
    await kube.request("PATCH", path, body=body, content_type=MERGE_PATCH_CONTENT_TYPE)


def _cidr_sources(permissions: list[dict[str, Any]]) -> set[tuple[int, str]]:
    return {(int(p["FromPort"]), r["CidrIp"]) for p in permissions for r in p.get("IpRanges", [])}


async def _warning_note(kube: KubeClient, namespace: str, name: str, reason: str) -> str | None:
    listed = await kube.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
    for event in listed.get("items", []):
        if event.get("reason") == reason and event["regarding"].get("name") == name:
            assert event["type"] == "Warning", event
            return str(event.get("note", ""))
    return None


async def test_params_win_over_annotations_re_reconcile_on_change_and_select_namespaces(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    suffix = namespace.removeprefix("e2e-")
    class_name, params_name, outsider_ns = f"alb-{suffix}", f"params-{suffix}", f"{namespace}-out"
    await _merge_patch(
        kube, NAMESPACES.object_path(namespace), {"metadata": {"labels": {"icp-team": suffix}}}
    )
    await kube.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": outsider_ns}}
    )
    await kube.create(
        INGRESS_CLASS_PARAMS,
        {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "IngressClassParams",
            "metadata": {"name": params_name},
            "spec": {
                # The sandbox's subnets are tagged for public ELBs only: the annotation's
                # "internal" would find no subnet, so an ALB at all shows the params' scheme won.
                "scheme": "internet-facing",
                "inboundCIDRs": ["10.1.0.0/16"],
                "namespaceSelector": {"matchLabels": {"icp-team": suffix}},
            },
        },
    )
    await kube.create(
        INGRESS_CLASSES,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": class_name},
            "spec": {
                "controller": "ingress.k8s.aws/alb",
                "parameters": {
                    "apiGroup": "elbv2.k8s.aws",
                    "kind": "IngressClassParams",
                    "name": params_name,
                },
            },
        },
    )
    await create_node_port_service(kube, namespace, "web")

    def manifest(name: str) -> dict[str, Any]:
        body = ingress_manifest(
            name, "web", {SCHEME: "internal", INBOUND_CIDRS: "10.2.0.0/16"}, internet_facing=False
        )
        body["spec"]["ingressClassName"] = class_name
        return body

    try:
        async with start_controller() as running:
            with controller_log_on_failure(running):
                await kube.create(INGRESSES, manifest("front"), namespace)
                await kube.create(INGRESSES, manifest("outsider"), outsider_ns)

                async def deployed() -> tuple[dict[str, Any], str] | None:
                    ingress = await kube.get(INGRESSES, "front", namespace)
                    hostnames = (ingress.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
                    if not hostnames:
                        return None
                    (balancer,) = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
                    return dict(balancer), str(balancer["SecurityGroups"][0])

                balancer, managed_sg = await wait_for(
                    running, deployed, "the ALB of Ingress front", within=60
                )
                assert balancer["Scheme"] == "internet-facing"
                assert _cidr_sources(await ingress_rules(aws_api, managed_sg)) == {(80, "10.1.0.0/16")}

                # A params change re-reconciles the group: the managed SG follows.
                await _merge_patch(
                    kube,
                    INGRESS_CLASS_PARAMS.object_path(params_name),
                    {"spec": {"inboundCIDRs": ["10.3.0.0/16"]}},
                )

                async def followed() -> bool | None:
                    sources = _cidr_sources(await ingress_rules(aws_api, managed_sg))
                    return True if sources == {(80, "10.3.0.0/16")} else None

                await wait_for(running, followed, "the managed SG to follow the params' new inboundCIDRs")

                # The outsider's Namespace does not match: upstream's Warning, no finalizer, no ALB.
                async def warned() -> str | None:
                    return await _warning_note(kube, outsider_ns, "outsider", "FailedLoadGroupID")

                note = await wait_for(running, warned, "a FailedLoadGroupID Warning on the outsider")
                assert note.startswith(
                    f"failed load groupID due to invalid ingress class: namespaceSelector of "
                    f"IngressClassParams {params_name} mismatch"
                ), note
                assert f"Ingress {outsider_ns}/outsider" in note and f"icp-team={suffix}" in note, note
                outsider = await kube.get(INGRESSES, "outsider", outsider_ns)
                assert not outsider["metadata"].get("finalizers") and not outsider.get("status", {}).get(
                    "loadBalancer", {}
                ).get("ingress")
                assert len((await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]) == 1
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{running.metrics_port}/metrics") as response,
                ):
                    metrics = await response.text()
                assert (
                    'awslbc_controller_reconcile_errors_total{controller="ingress",error_category="load_group_id_error"}'
                    in metrics
                ), metrics

                await delete_ingresses_and_wait(running, kube, namespace, "front")
    finally:
        for path in (
            INGRESSES.object_path("outsider", outsider_ns),
            NAMESPACES.object_path(outsider_ns),
            INGRESS_CLASSES.object_path(class_name),
            INGRESS_CLASS_PARAMS.object_path(params_name),
        ):
            with contextlib.suppress(KubeApiError):
                await kube.request("DELETE", path)
