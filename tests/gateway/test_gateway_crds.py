"""The Gateway API CRDs (fetched by tools/gateway-api/fetch.sh) and upstream's gateway.k8s.aws CRDs
(config/crd/gateway) install into the real kube-apiserver, and its schema validation then accepts
the objects a Gateway set-up is made of and refuses malformed configuration.

Applied with the real kubectl, as a user would (`kubectl apply --server-side -k`). CRDs are
cluster-wide and stay installed (as Helm leaves them); the namespaced objects are deleted at the end,
since the suite's kube-apiserver has no namespace controller.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import gateway_api_crds
import pytest
import yaml
from gateway_api_crds import (
    GATEWAY_API_CRDS,
    OUR_GATEWAY_CRDS,
    GatewayCrdsUnavailable,
    Kubectl,
    crd_names,
    install_gateway_crds,
)

from framework.testing.controlplane import RealControlPlane


@pytest.fixture(scope="module")
def kubectl(real_control_plane: RealControlPlane) -> Kubectl:
    try:
        return install_gateway_crds(real_control_plane)
    except GatewayCrdsUnavailable as error:
        pytest.fail(str(error), pytrace=False)


def test_without_the_fetched_crds_the_tests_fail_naming_the_make_target(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(gateway_api_crds, "GATEWAY_API_CRDS", tmp_path / "crds")

    with pytest.raises(GatewayCrdsUnavailable, match=r"run `make gateway-api-crds`$"):
        install_gateway_crds(RealControlPlane())  # fails before it needs a running server


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"gw-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    kinds = "gateways,httproutes,grpcroutes,tcproutes,udproutes,tlsroutes,loadbalancerconfigurations,targetgroupconfigurations"
    kubectl.run("delete", kinds, "--all", "-n", name, "--wait=false")


def test_every_fetched_and_upstream_crd_is_established(kubectl: Kubectl) -> None:
    names = crd_names(GATEWAY_API_CRDS) + crd_names(OUR_GATEWAY_CRDS)
    assert "gateways.gateway.networking.k8s.io" in names
    assert {"tcproutes", "udproutes", "tlsroutes"} <= {n.split(".")[0] for n in names}
    assert {"loadbalancerconfigurations.gateway.k8s.aws", "targetgroupconfigurations.gateway.k8s.aws"} <= set(
        names
    )
    served = kubectl.run("api-resources", "--api-group", "gateway.networking.k8s.io", "-o", "name").stdout
    assert "gateways.gateway.networking.k8s.io" in served.split()
    # The experimental channel's route CRDs also serve v1alpha2, the version upstream reads.
    versions = kubectl.run("api-versions").stdout.split()
    assert {
        "gateway.networking.k8s.io/v1",
        "gateway.networking.k8s.io/v1alpha2",
        "gateway.k8s.aws/v1",
    } <= set(versions)


def _gateway_objects(namespace: str) -> list[dict[str, object]]:
    meta = {"namespace": namespace}
    parent = [{"name": "alb", "namespace": namespace}]
    backend = [{"name": "web", "port": 80}]
    return [
        {
            "apiVersion": "gateway.k8s.aws/v1",
            "kind": "LoadBalancerConfiguration",
            "metadata": {"name": "internet", **meta},
            "spec": {
                "scheme": "internet-facing",
                "ipAddressType": "ipv4",
                "loadBalancerName": "web-alb",
                "securityGroups": ["sg-0123456789abcdef0", "my-frontend-sg"],
                "sourceRanges": ["10.0.0.0/8", "2001:db8::/32"],
                "securityGroupPrefixes": ["pl-0123456789abcdef0"],
                "manageBackendSecurityGroupRules": True,
                "listenerConfigurations": [
                    {"protocolPort": "HTTPS:443", "defaultCertificate": "arn:aws:acm:x"}
                ],
                "tags": {"team": "web"},
            },
        },
        {
            "apiVersion": "gateway.k8s.aws/v1",
            "kind": "TargetGroupConfiguration",
            "metadata": {"name": "web", **meta},
            "spec": {"targetReference": {"name": "web"}, "defaultConfiguration": {"targetType": "ip"}},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "alb", **meta},
            "spec": {
                "gatewayClassName": "aws-alb",
                "infrastructure": {
                    "parametersRef": {
                        "group": "gateway.k8s.aws",
                        "kind": "LoadBalancerConfiguration",
                        "name": "internet",
                    }
                },
                "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web", **meta},
            "spec": {"parentRefs": parent, "rules": [{"backendRefs": backend}]},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1alpha2",
            "kind": "TCPRoute",
            "metadata": {"name": "tcp", **meta},
            "spec": {"parentRefs": parent, "rules": [{"backendRefs": backend}]},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "UDPRoute",
            "metadata": {"name": "udp", **meta},
            "spec": {"parentRefs": parent, "rules": [{"backendRefs": backend}]},
        },
    ]


def test_a_gateway_set_up_is_accepted(kubectl: Kubectl, namespace: str) -> None:
    result = kubectl.apply(_gateway_objects(namespace), namespace)
    assert result.returncode == 0, result.stderr
    stored = yaml.safe_load(
        kubectl.run("get", "loadbalancerconfiguration", "internet", "-n", namespace, "-o", "yaml").stdout
    )
    assert stored["spec"]["sourceRanges"] == ["10.0.0.0/8", "2001:db8::/32"]
    # Server-side defaults are filled in, as the controller will see them.
    assert stored["spec"]["listenerConfigurations"][0]["alpnPolicy"] == "None"
    tcp = yaml.safe_load(
        kubectl.run(
            "get", "tcproutes.v1alpha2.gateway.networking.k8s.io", "tcp", "-n", namespace, "-o", "yaml"
        ).stdout
    )
    assert tcp["spec"]["parentRefs"][0]["name"] == "alb"


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("scheme", "public", "Unsupported value"),
        ("mergingMode", "prefer-nobody", "Unsupported value"),
        ("listenerConfigurations", [{"protocolPort": "HTTP:70000"}], "should match"),
        ("listenerConfigurations", [{"defaultCertificate": "arn:aws:acm:x"}], "Required value"),
        ("manageBackendSecurityGroupRules", "yes", "expected boolean"),
    ],
)
def test_malformed_load_balancer_configuration_is_refused(
    kubectl: Kubectl, namespace: str, field: str, value: object, complaint: str
) -> None:
    document: dict[str, object] = {
        "apiVersion": "gateway.k8s.aws/v1",
        "kind": "LoadBalancerConfiguration",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {field: value},
    }
    result = kubectl.apply([document], namespace)
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr
    assert (
        kubectl.run("get", "loadbalancerconfiguration", "bad", "-n", namespace, check=False).returncode != 0
    )
