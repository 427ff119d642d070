"""HTTPS listeners of an ALB: certificate-arn (default + SNI certificates) and ssl-policy.

Values from upstream's docs/guide/ingress/annotations.md and pkg/ingress model_builder tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from ingress_factories import build, explicit_group, implicit_group, ingress, make_config

from controller.annotations import (
    ING_CERTIFICATE_ARN,
    ING_LISTEN_PORTS,
    ING_SSL_POLICY,
    ConflictingGroupSettingError,
)
from controller.ingress import ClassifiedIngress, IngressGroup, IngressGroupId

CERT_A = "arn:aws:acm:us-west-2:xxxxx:certificate/a"
CERT_B = "arn:aws:acm:us-west-2:xxxxx:certificate/b"
CERT_C = "arn:aws:acm:us-west-2:xxxxx:certificate/c"
BOTH_PORTS = '[{"HTTP": 80}, {"HTTPS": 443}]'


def tls_of(model: Any) -> list[tuple[int, str, tuple[str, ...], str | None]]:
    return [(ls.port, ls.protocol, ls.certificate_arns, ls.ssl_policy) for ls in model.listeners]


async def test_https_listener_gets_the_certificates_and_the_default_policy() -> None:
    annotations = {ING_LISTEN_PORTS: BOTH_PORTS, ING_CERTIFICATE_ARN: f"{CERT_A}, {CERT_B}"}
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert tls_of(model) == [
        (80, "HTTP", (), None),
        (443, "HTTPS", (CERT_A, CERT_B), "ELBSecurityPolicy-2016-08"),
    ]


async def test_ssl_policy_annotation_applies_to_https_listeners() -> None:
    annotations = {
        ING_LISTEN_PORTS: BOTH_PORTS,
        ING_CERTIFICATE_ARN: CERT_A,
        ING_SSL_POLICY: "ELBSecurityPolicy-TLS-1-1-2017-01",  # upstream's docs example
    }
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert [(ls.port, ls.ssl_policy) for ls in model.listeners] == [
        (80, None),
        (443, "ELBSecurityPolicy-TLS-1-1-2017-01"),
    ]


async def test_default_ssl_policy_flag() -> None:
    config = make_config(default_ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06")
    model = await build(implicit_group(ingress(annotations={ING_CERTIFICATE_ARN: CERT_A})), config=config)
    assert tls_of(model) == [(443, "HTTPS", (CERT_A,), "ELBSecurityPolicy-TLS13-1-2-2021-06")]


async def test_ingress_class_params_ssl_policy_wins_over_the_annotation() -> None:
    """Upstream's "Ingress - ssl-policy in IngressClassParams" case."""
    member = ingress(annotations={ING_CERTIFICATE_ARN: CERT_A, ING_SSL_POLICY: "annotated-ssl-policy"})
    params = {"metadata": {"name": "params"}, "spec": {"sslPolicy": "ingress-class-policy"}}
    group = IngressGroup(IngressGroupId.implicit("ns-1", "ing-1"), (ClassifiedIngress(member, params),))
    model = await build(group)
    assert [ls.ssl_policy for ls in model.listeners] == ["ingress-class-policy"]


async def test_group_members_merge_certificates_default_first() -> None:
    first = ingress("a", annotations={ING_CERTIFICATE_ARN: f"{CERT_A},{CERT_B}"})
    second = ingress("b", annotations={ING_CERTIFICATE_ARN: f"{CERT_C},{CERT_B}"})
    model = await build(explicit_group("g", first, second))
    assert tls_of(model) == [(443, "HTTPS", (CERT_A, CERT_B, CERT_C), "ELBSecurityPolicy-2016-08")]


async def test_group_members_must_agree_on_the_ssl_policy() -> None:
    first = ingress(
        "a", annotations={ING_CERTIFICATE_ARN: CERT_A, ING_SSL_POLICY: "ELBSecurityPolicy-2016-08"}
    )
    second = ingress(
        "b", annotations={ING_CERTIFICATE_ARN: CERT_A, ING_SSL_POLICY: "ELBSecurityPolicy-FS-2018-06"}
    )
    silent = ingress("c", annotations={ING_CERTIFICATE_ARN: CERT_A})
    with pytest.raises(ConflictingGroupSettingError) as caught:
        await build(explicit_group("g", first, silent, second))
    assert caught.value.key == ING_SSL_POLICY
    assert [(str(ref), value) for ref, value in caught.value.values] == [
        ("Ingress ns-1/a", "ELBSecurityPolicy-2016-08"),
        ("Ingress ns-1/b", "ELBSecurityPolicy-FS-2018-06"),
    ]
    # A member that names no policy takes part in nothing: the others' policy applies.
    model = await build(explicit_group("g", silent, second))
    assert [ls.ssl_policy for ls in model.listeners] == ["ELBSecurityPolicy-FS-2018-06"]
