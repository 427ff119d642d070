"""TLS listeners of an NLB: ssl-cert, ssl-ports, ssl-negotiation-policy, alpn-policy, backend-protocol.

The values and error texts are upstream's (pkg/service/model_build_listener.go and its tests, and
docs/guide/service/annotations.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from service_factories import build, lb_service, make_config, port

from controller.annotations import (
    SVC_ALPN_POLICY,
    SVC_BACKEND_PROTOCOL,
    SVC_SSL_CERT,
    SVC_SSL_NEGOTIATION_POLICY,
    SVC_SSL_PORTS,
    InvalidAnnotationError,
)
from controller.model import NetworkingPort

CERT_1 = "arn:aws:acm:us-west-2:xxxxx:certificate/cert1"
CERT_2 = "arn:aws:acm:us-west-2:xxxxx:certificate/cert2"


def two_ports(**annotations: str) -> dict[str, Any]:
    """Upstream's fixture: ports ``http`` 80 and ``alt2`` 83."""
    return lb_service(
        ports=[port(80, node_port=31223, name="http"), port(83, target=8883, node_port=32323, name="alt2")],
        annotations=annotations,
    )


def listeners(model: Any) -> list[tuple[int, str, tuple[str, ...], str | None, str | None]]:
    return [
        (ls.port, ls.protocol, ls.certificate_arns, ls.ssl_policy, ls.alpn_policy) for ls in model.listeners
    ]


async def test_without_ssl_ports_every_tcp_port_is_tls_with_the_default_policy() -> None:
    model = await build(two_ports(**{SVC_SSL_CERT: f"{CERT_1}, {CERT_2}"}))
    default = "ELBSecurityPolicy-2016-08"
    assert listeners(model) == [
        (80, "TLS", (CERT_1, CERT_2), default, None),
        (83, "TLS", (CERT_1, CERT_2), default, None),
    ]
    # The target groups keep speaking TCP (no backend-protocol), and so do the SG rules.
    assert [tg.protocol for tg in model.target_groups] == ["TCP", "TCP"]


async def test_ssl_ports_by_number_and_by_name_pick_the_tls_listeners() -> None:
    by_number = await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_PORTS: "83"}))
    by_name = await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_PORTS: "alt2"}))
    expected = [(80, "TCP", (), None, None), (83, "TLS", (CERT_1,), "ELBSecurityPolicy-2016-08", None)]
    assert listeners(by_number) == listeners(by_name) == expected


async def test_tls_leaves_target_groups_sg_rules_and_tgb_networking_as_they_were() -> None:
    plain = await build(two_ports())
    tls = await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_PORTS: "83"}))
    assert tls.target_groups == plain.target_groups
    assert tls.managed_sg == plain.managed_sg
    assert tls.target_group_bindings == plain.target_group_bindings


async def test_ssl_ports_without_a_certificate_keep_tcp_listeners_with_a_warning() -> None:
    model = await build(two_ports(**{SVC_SSL_PORTS: "83"}))
    assert model.warnings == (
        f"Service default/svc: {SVC_SSL_PORTS}='83' has no effect without {SVC_SSL_CERT}: the listeners stay TCP",
    )
    assert (await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_PORTS: "83"}))).warnings == ()
    assert [(ls.port, ls.protocol, ls.ssl_policy) for ls in model.listeners] == [
        (80, "TCP", None),
        (83, "TCP", None),
    ]


@pytest.mark.parametrize(
    ("raw", "unused"),
    [
        ("80, 85, 90, arbitrary-name", "[85 90 arbitrary-name]"),  # upstream's table
        ("*", "[*]"),  # the docs: ``*`` matches no port
    ],
)
async def test_ssl_ports_naming_a_port_the_service_lacks_is_an_error(raw: str, unused: str) -> None:
    # Checked whether or not a certificate is named, as upstream.
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(two_ports(**{SVC_SSL_PORTS: raw}))
    error = caught.value
    assert (error.key, error.value) == (SVC_SSL_PORTS, raw)
    assert error.reason == f"Unused port in ssl-ports annotation {unused}"
    assert "Service default/svc" in str(error)


async def test_ssl_negotiation_policy_and_the_default_ssl_policy_flag() -> None:
    annotated = await build(
        two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_NEGOTIATION_POLICY: "ELBSecurityPolicy-TLS13-1-2-2021-06"})
    )
    assert {ls.ssl_policy for ls in annotated.listeners} == {"ELBSecurityPolicy-TLS13-1-2-2021-06"}
    flagged = await build(
        two_ports(**{SVC_SSL_CERT: CERT_1}),
        make_config(default_ssl_policy="ELBSecurityPolicy-TLS-1-2-2017-01"),
    )
    assert {ls.ssl_policy for ls in flagged.listeners} == {"ELBSecurityPolicy-TLS-1-2-2017-01"}


@pytest.mark.parametrize("policy", ["None", "HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred"])
async def test_alpn_policy_values(policy: str) -> None:
    model = await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_PORTS: "83", SVC_ALPN_POLICY: policy}))
    assert [ls.alpn_policy for ls in model.listeners] == [None, policy]


async def test_unknown_alpn_policy_is_an_error_on_tls_listeners_only() -> None:
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_ALPN_POLICY: "unknown"}))
    assert (caught.value.key, caught.value.value) == (SVC_ALPN_POLICY, "unknown")
    assert caught.value.reason == (
        "invalid ALPN policy unknown, policy must be one of "
        "[None, HTTP1Only, HTTP2Only, HTTP2Optional, HTTP2Preferred]"
    )
    # Upstream reads the ALPN policy only for a TLS listener: without one it is never checked.
    model = await build(two_ports(**{SVC_ALPN_POLICY: "unknown"}))
    assert {ls.alpn_policy for ls in model.listeners} == {None}


async def test_backend_protocol_ssl_makes_the_target_group_tls_and_the_rules_stay_tcp() -> None:
    plain = await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_PORTS: "83"}))
    model = await build(two_ports(**{SVC_SSL_CERT: CERT_1, SVC_SSL_PORTS: "83", SVC_BACKEND_PROTOCOL: "ssl"}))
    assert [tg.protocol for tg in model.target_groups] == ["TCP", "TLS"]
    # The name hashes the protocol (upstream), so a TLS target group is a new one.
    assert model.target_groups[1].name != plain.target_groups[1].name
    networking = model.target_group_bindings[1].networking
    assert networking is not None
    assert [p for rule in networking.ingress for p in rule.ports] == [NetworkingPort("TCP", 32323)]
    assert model.managed_sg == plain.managed_sg
    # Without TLS on the listener, backend-protocol changes nothing.
    assert model.target_groups[0] == plain.target_groups[0]


async def test_udp_and_tcp_udp_listeners_never_become_tls() -> None:
    svc = lb_service(
        ports=[
            port(53, "TCP", node_port=31053),
            port(53, "UDP", node_port=31053),
            port(123, "UDP", node_port=31123),
            port(443, "TCP", node_port=31443),
        ],
        annotations={SVC_SSL_CERT: CERT_1},
    )
    model = await build(svc)
    assert [(ls.port, ls.protocol) for ls in model.listeners] == [(53, "TCP_UDP"), (123, "UDP"), (443, "TLS")]
