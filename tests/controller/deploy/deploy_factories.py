"""Kubernetes dicts, builders and AWS look-ups shared by the deploy tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controller.annotations import ING_SCHEME, SVC_SCHEME
from controller.aws.api import AwsApi
from controller.aws.ec2_types import IpPermission
from controller.config import ControllerSettings, parse_config
from controller.deploy import StackDeployer
from controller.ingress import ClassifiedIngress, IngressGroup, IngressGroupId, IngressModelBuilder
from controller.ingress.reconciler import ingress_group_stack_tags
from controller.model import StackModel
from controller.naming import StackTags
from controller.networking.rules import Rule, expand_ip_permissions
from controller.sandbox.seed import SANDBOX_CLUSTER
from controller.service import ServiceModelBuilder
from controller.service.reconciler import service_stack_tags
from framework.objects import object_key

DeployerFactory = Callable[..., StackDeployer]
"""The ``make_deployer`` fixture: keyword arguments ``external_managed_tags``, ``on_dependency_violation``."""


def make_config(**overrides: Any) -> ControllerSettings:
    return dataclasses.replace(parse_config(["--cluster-name", SANDBOX_CLUSTER]), **overrides)


def ingress(
    name: str = "web",
    namespace: str = "default",
    annotations: Mapping[str, str] | None = None,
    backends: Sequence[tuple[str, str]] = (("/", "svc-1"),),
) -> dict[str, Any]:
    """An internet-facing Ingress routing each (path, service) to port ``http`` of the service."""
    paths = [
        {"path": path, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"name": "http"}}}}
        for path, svc in backends
    ]
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {ING_SCHEME: "internet-facing", **(annotations or {})},
        },
        "spec": {"rules": [{"http": {"paths": paths}}]},
    }


def node_port_service(
    name: str = "svc-1", namespace: str = "default", node_port: int = 32768
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "annotations": {}},
        "spec": {
            "type": "NodePort",
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "nodePort": node_port, "protocol": "TCP"}
            ],
        },
    }


def lb_service(name: str = "echo", namespace: str = "default") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "0f0e0d0c-1111-2222-3333-444455556666",
            "annotations": {SVC_SCHEME: "internet-facing"},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "ports": [{"name": "tcp", "port": 80, "targetPort": 8080, "nodePort": 31080, "protocol": "TCP"}],
        },
    }


class IdResolver:
    """Custom SG ids resolve to themselves (names are not used by these tests)."""

    async def resolve(self, names_or_ids: Sequence[str]) -> list[str]:
        return list(names_or_ids)


async def build_alb_model(
    *members: Mapping[str, Any],
    services: Sequence[Mapping[str, Any]] | None = None,
    config: ControllerSettings | None = None,
    stack: StackTags | None = None,
) -> StackModel:
    """``stack``: the stack tags to hand the builder (default: those the reconciler builds)."""
    first = members[0]["metadata"]
    group = IngressGroup(
        IngressGroupId.implicit(first["namespace"], first["name"]),
        tuple(ClassifiedIngress(m) for m in members),
    )
    known = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services or [node_port_service()]
    }
    config = config or make_config()
    builder = IngressModelBuilder(config, IdResolver(), lambda ns, n: known.get((ns, n)))
    model = await builder.build(group, stack or ingress_group_stack_tags(config.cluster_name, group.id))
    assert model is not None
    return model


async def build_nlb_model(service: Mapping[str, Any], config: ControllerSettings | None = None) -> StackModel:
    config = config or make_config()
    stack = service_stack_tags(config.cluster_name, object_key(service))
    model = await ServiceModelBuilder(config, IdResolver()).build(service, stack)
    assert model is not None
    return model


async def describe_sg(api: AwsApi, group_id: str) -> dict[str, Any]:
    groups = await api.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "group-id", "Values": [group_id]}],
    )
    assert len(groups) == 1, groups
    return groups[0]


async def sg_exists(api: AwsApi, group_id: str) -> bool:
    groups = await api.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "group-id", "Values": [group_id]}],
    )
    return bool(groups)


async def ingress_rules(api: AwsApi, group_id: str) -> set[Rule]:
    return set(
        expand_ip_permissions(
            IpPermission.from_aws(p) for p in (await describe_sg(api, group_id)).get("IpPermissions") or ()
        )
    )


def tags_of(described: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described.get("Tags") or ()}


async def elbv2_tags(api: AwsApi, arn: str) -> dict[str, str]:
    response = await api.call("elbv2", "DescribeTags", ResourceArns=[arn])
    return tags_of(response["TagDescriptions"][0])


async def stack_leftovers(api: AwsApi, stack: StackTags) -> list[str]:
    """Every LB, TG and SG that still carries the stack's tracking tags."""
    left: list[str] = []
    for operation, key, arn_key in (
        ("DescribeLoadBalancers", "LoadBalancers", "LoadBalancerArn"),
        ("DescribeTargetGroups", "TargetGroups", "TargetGroupArn"),
    ):
        for item in await api.paginate("elbv2", operation, key):
            tags = await elbv2_tags(api, item[arn_key])
            if all(tags.get(k) == v for k, v in stack.tracking_tags().items()):
                left.append(item[arn_key])
    groups = await api.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": f"tag:{k}", "Values": [v]} for k, v in stack.tracking_tags().items()],
    )
    left.extend(g["GroupId"] for g in groups)
    return left
