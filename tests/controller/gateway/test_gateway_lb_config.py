"""LoadBalancerConfiguration merging (upstream's lb_config_merger.go) and checking."""

from __future__ import annotations

from typing import Any

import pytest

from controller.annotations import InvalidObjectError, ModelBuildError
from controller.gateway.lb_config import MissingLoadBalancerConfigurationError, gateway_lb_config, merge


def config(name: str, namespace: str = "ns", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_class_wins_by_default_field_by_field() -> None:
    merged = merge(
        config("class", scheme="internet-facing", sourceRanges=["10.0.0.0/8"]),
        config("gw", scheme="internal", securityGroupPrefixes=["pl-1"], sourceRanges=["192.168.0.0/16"]),
    )
    assert merged.scheme == "internet-facing"
    assert merged.source_ranges is not None and merged.source_ranges.ipv4 == ("10.0.0.0/8",)
    assert merged.security_group_prefixes == ("pl-1",)  # only the Gateway sets it
    assert merged.origins["scheme"].name == "class" and merged.origins["securityGroupPrefixes"].name == "gw"


def test_prefer_gateway_lets_the_gateway_win_and_lists_are_taken_whole() -> None:
    merged = merge(
        config("class", mergingMode="prefer-gateway", securityGroups=["sg-a", "sg-b"], scheme="internal"),
        config("gw", securityGroups=["sg-c"]),
    )
    assert merged.security_groups == ("sg-c",)
    assert merged.scheme == "internal"


def test_tags_and_listener_configurations_merge_key_by_key_winner_first() -> None:
    merged = merge(
        config(
            "class",
            tags={"team": "platform", "env": "prod"},
            listenerConfigurations=[{"protocolPort": "HTTPS:443", "defaultCertificate": "arn:class"}],
        ),
        config(
            "gw",
            tags={"team": "web", "app": "shop"},
            listenerConfigurations=[
                {"protocolPort": "HTTPS:443", "defaultCertificate": "arn:gw"},
                {"protocolPort": "TLS:8443", "defaultCertificate": "arn:tls"},
            ],
        ),
    )
    assert merged.tags == {"team": "platform", "env": "prod", "app": "shop"}
    https = merged.listener("HTTPS", 443)
    assert https is not None and https.default_certificate == "arn:class"
    tls = merged.listener("TLS", 8443)
    assert tls is not None and tls.default_certificate == "arn:tls"


def test_invalid_cidr_names_the_configuration_field_and_value() -> None:
    with pytest.raises(ModelBuildError) as caught:
        merge(None, config("gw", sourceRanges=["10.0.0.0/8", "10.0.0.300/32"]))
    message = str(caught.value)
    assert "LoadBalancerConfiguration ns/gw" in message
    assert "spec.sourceRanges" in message and "10.0.0.300/32" in message


def test_invalid_tag_is_refused_before_aws() -> None:
    with pytest.raises(InvalidObjectError, match=r"spec\.tags"):
        merge(None, config("gw", tags={"aws:reserved": "x"}))


def test_missing_configuration_is_retryable_and_named() -> None:
    gateway = {
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "infrastructure": {
                "parametersRef": {
                    "group": "gateway.k8s.aws",
                    "kind": "LoadBalancerConfiguration",
                    "name": "absent",
                }
            }
        },
    }
    with pytest.raises(MissingLoadBalancerConfigurationError) as caught:
        gateway_lb_config(None, gateway, lambda _key: None)
    assert caught.value.retryable
    assert "LoadBalancerConfiguration ns/absent" in str(caught.value)


def test_class_configuration_is_found_in_its_own_namespace_and_other_kinds_are_ignored() -> None:
    gateway_class = {
        "metadata": {"name": "aws-alb"},
        "spec": {
            "parametersRef": {
                "group": "gateway.k8s.aws",
                "kind": "LoadBalancerConfiguration",
                "name": "shared",
                "namespace": "infra",
            }
        },
    }
    gateway = {
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"infrastructure": {"parametersRef": {"group": "example.com", "kind": "Other", "name": "x"}}},
    }
    store = {"infra/shared": config("shared", "infra", scheme="internet-facing")}
    merged = gateway_lb_config(gateway_class, gateway, store.get)
    assert merged.scheme == "internet-facing"
    assert [ref.key for ref in merged.source] == ["infra/shared"]
