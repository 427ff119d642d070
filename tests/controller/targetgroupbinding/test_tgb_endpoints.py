"""Pure endpoint resolution and spec parsing for TargetGroupBindings."""

from __future__ import annotations

from typing import Any

import pytest

from controller.targetgroupbinding.endpoints import (
    EXCLUDE_FROM_LB_LABEL,
    BackendNotFoundError,
    EndpointResolutionError,
    Target,
    resolve_node_endpoints,
    resolve_pod_endpoints,
)
from controller.targetgroupbinding.model import Binding, InvalidBindingError
from framework.label_selector import LabelSelector

SERVICE = {
    "metadata": {"name": "web", "namespace": "ns"},
    "spec": {
        "ports": [
            {"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
            {"name": "metrics", "port": 9090, "targetPort": 9090},
        ]
    },
}


def slice_(address_type: str, ports: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns"},
        "addressType": address_type,
        "ports": ports,
        "endpoints": endpoints,
    }


def endpoint(ip: str, ready: bool | None = True, pod: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"addresses": [ip]}
    if ready is not None:
        found["conditions"] = {"ready": ready}
    if pod:
        found["targetRef"] = {"kind": "Pod", "name": pod}
    return found


def node(
    name: str, *, ready: str = "True", labels: dict[str, str] | None = None, provider: str | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"providerID": provider if provider is not None else f"aws:///us-west-2a/i-{name}"},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def test_pod_endpoints_by_port_name_or_number_ready_only_deduplicated() -> None:
    slices = [
        slice_(
            "IPv4",
            [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}],
            [
                endpoint("10.0.0.2", pod="b"),
                endpoint("10.0.0.1", ready=None, pod="a"),
                endpoint("10.0.0.3", ready=False),
            ],
        ),
        slice_(
            "IPv4", [{"name": "http", "port": 8080}], [endpoint("10.0.0.2", pod="b")]
        ),  # overlap while moving
        slice_("IPv6", [{"name": "http", "port": 8080}], [endpoint("fd00::1")]),
    ]
    by_name = resolve_pod_endpoints(SERVICE, slices, "http", "ipv4")
    assert [e.target for e in by_name] == [Target("10.0.0.1", 8080), Target("10.0.0.2", 8080)]
    assert [e.pod_key for e in by_name] == ["ns/a", "ns/b"]
    assert [e.target for e in resolve_pod_endpoints(SERVICE, slices, 80, "ipv4")] == [
        Target("10.0.0.1", 8080),
        Target("10.0.0.2", 8080),
    ]
    assert [e.target.port for e in resolve_pod_endpoints(SERVICE, slices, 9090, "ipv4")] == [9090, 9090]
    assert [e.target for e in resolve_pod_endpoints(SERVICE, slices, "http", "ipv6")] == [
        Target("fd00::1", 8080)
    ]


def test_unknown_service_port_is_backend_not_found() -> None:
    with pytest.raises(BackendNotFoundError, match="unable to find port https on service ns/web"):
        resolve_pod_endpoints(SERVICE, [], "https", "ipv4")
    with pytest.raises(BackendNotFoundError):
        resolve_node_endpoints(SERVICE, [], 443, LabelSelector())


def test_node_endpoints_ready_not_excluded_selected_on_the_node_port() -> None:
    nodes = [
        node("a", labels={"pool": "web"}),
        node("b", labels={"pool": "batch"}),
        node("c", ready="False", labels={"pool": "web"}),
        node("d", labels={"pool": "web", EXCLUDE_FROM_LB_LABEL: "true"}),
        node("e", labels={"pool": "web"}, provider="kind://docker/e"),
    ]
    everyone = resolve_node_endpoints(SERVICE, nodes, 80, LabelSelector())
    assert [e.target for e in everyone] == [Target("i-a", 30080), Target("i-b", 30080)]
    selector = LabelSelector.parse(
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["web"]}]}
    )
    assert [e.target.id for e in resolve_node_endpoints(SERVICE, nodes, "http", selector)] == ["i-a"]
    with pytest.raises(EndpointResolutionError, match="has no nodePort"):
        resolve_node_endpoints(SERVICE, nodes, 9090, LabelSelector())


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ],
)
def test_node_selector(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


def _tgb(**spec: Any) -> dict[str, Any]:
    base = {"targetGroupARN": "arn:tg", "targetType": "ip", "serviceRef": {"name": "web", "port": 80}}
    return {"metadata": {"name": "t", "namespace": "ns", "generation": 2}, "spec": {**base, **spec}}


def test_binding_parse() -> None:
    binding = Binding.parse(_tgb(serviceRef={"name": "web", "port": "http"}))
    assert (binding.key, binding.service_key, binding.service_port, binding.generation) == (
        "ns/t",
        "ns/web",
        "http",
        2,
    )
    assert binding.observed_generation is None and binding.networking is None and not binding.deleting
    with pytest.raises(InvalidBindingError, match="nodeSelector cannot be used with ip"):
        Binding.parse(_tgb(nodeSelector={"matchLabels": {"a": "b"}}))
    with pytest.raises(InvalidBindingError, match="targetGroupARN"):
        Binding.parse(_tgb(targetGroupARN=""))
    with pytest.raises(InvalidBindingError, match="serviceRef"):
        Binding.parse(_tgb(serviceRef={"name": "web"}))
    with pytest.raises(
        InvalidBindingError, match=r"nodeSelector: \"Gt\" is not a valid label selector operator"
    ):
        Binding.parse(
            _tgb(targetType="instance", nodeSelector={"matchExpressions": [{"key": "a", "operator": "Gt"}]})
        )
