"""Builders of Service dicts and fakes for the NLB model-builder tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from controller.config import ControllerSettings, parse_config
from controller.model import StackModel
from controller.naming import StackTags
from controller.networking.errors import SecurityGroupLookupError
from controller.service import ExistingLoadBalancer, ServiceModelBuilder
from controller.service.reconciler import service_stack_tags
from framework.objects import object_key

NLB_IP = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip"}


def make_config(cluster: str = "my-cluster", **overrides: Any) -> ControllerSettings:
    return dataclasses.replace(parse_config(["--cluster-name", cluster]), **overrides)


def port(number: int, protocol: str = "TCP", target: int | str | None = None, node_port: int | None = None,
         name: str | None = None) -> dict[str, Any]:  # fmt: skip
    entry: dict[str, Any] = {
        "port": number,
        "protocol": protocol,
        "targetPort": target if target is not None else number,
    }
    if node_port is not None:
        entry["nodePort"] = node_port
    if name is not None:
        entry["name"] = name
    return entry


def lb_service(
    name: str = "svc",
    namespace: str = "default",
    uid: str = "uid-1",
    ports: Sequence[Mapping[str, Any]] | None = None,
    annotations: Mapping[str, str] | None = None,
    load_balancer_class: str | None = "service.k8s.aws/nlb",
    source_ranges: Sequence[str] | None = None,
    **spec_fields: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": list(ports or [port(80, node_port=31080)])}
    if load_balancer_class is not None:
        spec["loadBalancerClass"] = load_balancer_class
    if source_ranges is not None:
        spec["loadBalancerSourceRanges"] = list(source_ranges)
    spec.update(spec_fields)
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
    }


class FakeResolver:
    def __init__(self, names: Mapping[str, Sequence[str]] | None = None) -> None:
        self._names = dict(names or {})
        self.calls: list[list[str]] = []

    async def resolve(self, names_or_ids: Sequence[str]) -> list[str]:
        self.calls.append(list(names_or_ids))
        missing = [n for n in names_or_ids if not n.startswith("sg-") and n not in self._names]
        if missing:
            raise SecurityGroupLookupError(f"couldn't find all security groups: requested names {missing}")
        ids = [n for n in names_or_ids if n.startswith("sg-")]
        return [*ids, *(g for n in names_or_ids if not n.startswith("sg-") for g in self._names[n])]


def stack_of(service: Mapping[str, Any], config: ControllerSettings | None = None) -> StackTags:
    """The stack tags the reconciler would hand the builder for ``service``."""
    return service_stack_tags((config or make_config()).cluster_name, object_key(service))


async def build(
    service: Mapping[str, Any],
    config: ControllerSettings | None = None,
    existing: ExistingLoadBalancer | None = None,
    resolver: FakeResolver | None = None,
) -> StackModel:
    config = config or make_config()
    builder = ServiceModelBuilder(config, resolver or FakeResolver())
    model = await builder.build(service, stack_of(service, config), existing)
    assert model is not None
    return model
