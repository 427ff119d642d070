"""Which Gateway controllers run: the ALBGatewayAPI/NLBGatewayAPI gates against API discovery.

The decision table is upstream's (pkg/gateway/crddetect), without its ListenerSet gate; discovery
itself runs against the stand-in and the real kube-apiserver, which answer it alike (an absent
group version is a plain 404 on both).
"""

from __future__ import annotations

import logging

import pytest
from gateway_api_crds import GATEWAY_API_CRDS, OUR_GATEWAY_CRDS, GatewayCrdsUnavailable, install_gateway_crds

from controller.config import ControllerSettings, parse_config
from controller.gateway import crd_detection
from controller.gateway.crd_detection import (
    ALB_REQUIRED,
    NLB_REQUIRED,
    GatewayControllers,
    ServedKinds,
    detect_gateway_controllers,
    gateway_controllers_for,
    missing_kinds,
    served_kinds,
)
from controller.gateway.resources import GATEWAYS, TCP_ROUTES, TLS_ROUTES, UDP_ROUTES
from controller.sandbox.cluster import CRDS, apply_crds
from controller.startup import ControllerStartupError, gateway_controllers, require_custom_resources
from framework.kube import KubeClient
from framework.testing.apiserver import FaultRule, StandInApiServer
from framework.testing.controlplane import RealControlPlane

V1 = "gateway.networking.k8s.io/v1"
LBC = "gateway.k8s.aws/v1"
LBC_KINDS = frozenset({"TargetGroupConfiguration", "LoadBalancerConfiguration", "ListenerRuleConfiguration"})
ALL_V1 = frozenset({"Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"})
DISABLED = "Disabling {}: missing required CRDs: {}"
ALB_KINDS_TEXT = "Gateway, GatewayClass, HTTPRoute, GRPCRoute, " + (
    "TargetGroupConfiguration, LoadBalancerConfiguration, ListenerRuleConfiguration"
)
NLB_KINDS_TEXT = "Gateway, GatewayClass, TLSRoute, TCPRoute, UDPRoute, " + (
    "TargetGroupConfiguration, LoadBalancerConfiguration, ListenerRuleConfiguration"
)


def settings(*gates: str) -> ControllerSettings:
    flags = [f"--feature-gates={','.join(gates)}"] if gates else []
    return parse_config(["--cluster-name=c", *flags])


def disabled_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == crd_detection.__name__ and r.levelno == logging.INFO
    ]


@pytest.mark.parametrize(
    ("served", "alb", "nlb"),
    [
        pytest.param({}, False, False, id="no kinds present"),
        pytest.param(
            {V1: ALL_V1 - {"TCPRoute", "UDPRoute"}}, False, False, id="v1 present, LBC CRDs missing"
        ),
        pytest.param(
            {V1: ALL_V1 - {"TCPRoute", "UDPRoute"}, LBC: LBC_KINDS},
            True,
            False,
            id="tcproute and udproute not served at v1 (gateway api < 1.6)",
        ),
        pytest.param({V1: ALL_V1}, False, False, id="all standard CRDs, LBC CRDs missing"),
        pytest.param({V1: ALL_V1, LBC: LBC_KINDS}, True, True, id="all present"),
        pytest.param({V1: ALL_V1 - {"Gateway"}, LBC: LBC_KINDS}, False, False, id="gateway missing"),
        pytest.param(
            {V1: ALL_V1 - {"GatewayClass"}, LBC: LBC_KINDS}, False, False, id="gatewayclass missing"
        ),
        pytest.param({V1: ALL_V1 - {"HTTPRoute"}, LBC: LBC_KINDS}, False, True, id="httproute missing"),
        pytest.param({V1: ALL_V1 - {"GRPCRoute"}, LBC: LBC_KINDS}, False, True, id="grpcroute missing"),
        pytest.param({V1: ALL_V1 - {"TLSRoute"}, LBC: LBC_KINDS}, True, False, id="tlsroute missing"),
        pytest.param({V1: ALL_V1 - {"TCPRoute"}, LBC: LBC_KINDS}, True, False, id="tcproute missing"),
        pytest.param({V1: ALL_V1 - {"UDPRoute"}, LBC: LBC_KINDS}, True, False, id="udproute missing"),
        pytest.param({LBC: LBC_KINDS}, False, False, id="LBC CRDs only"),
        pytest.param(
            {V1: ALL_V1, LBC: LBC_KINDS - {"TargetGroupConfiguration"}},
            False,
            False,
            id="TargetGroupConfiguration missing",
        ),
        pytest.param(
            {V1: ALL_V1, LBC: LBC_KINDS - {"ListenerRuleConfiguration"}},
            False,
            False,
            id="ListenerRuleConfiguration missing",
        ),
        # The kinds must be served at v1: an older Gateway API serving them only at v1alpha2 is not enough.
        pytest.param(
            {
                V1: ALL_V1 - {"TCPRoute", "UDPRoute", "TLSRoute"},
                LBC: LBC_KINDS,
                "gateway.networking.k8s.io/v1alpha2": ALL_V1,
            },
            True,
            False,
            id="l4 routes only at v1alpha2",
        ),
    ],
)
def test_defaulted_gates_follow_the_served_kinds_as_upstream(
    served: ServedKinds, alb: bool, nlb: bool
) -> None:
    assert gateway_controllers_for(settings(), served) == GatewayControllers(alb=alb, nlb=nlb)


def test_each_defaulted_gate_turned_off_logs_one_line_naming_what_is_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=crd_detection.__name__)

    gateway_controllers_for(settings(), {})
    assert disabled_lines(caplog) == [
        DISABLED.format("ALBGatewayAPI", ALB_KINDS_TEXT),
        DISABLED.format("NLBGatewayAPI", NLB_KINDS_TEXT),
    ]

    caplog.clear()
    gateway_controllers_for(settings(), {V1: ALL_V1 - {"UDPRoute"}, LBC: LBC_KINDS})
    assert disabled_lines(caplog) == [DISABLED.format("NLBGatewayAPI", "UDPRoute")]

    caplog.clear()
    gateway_controllers_for(settings(), {V1: ALL_V1, LBC: LBC_KINDS})
    assert disabled_lines(caplog) == []


def test_a_gate_set_explicitly_is_obeyed_whatever_is_served(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=crd_detection.__name__)
    everything: ServedKinds = {V1: ALL_V1, LBC: LBC_KINDS}

    # Set on without the CRDs: kept on (the start-up CRD check then names what is missing).
    assert gateway_controllers_for(settings("ALBGatewayAPI=true"), {}) == GatewayControllers(
        alb=True, nlb=False
    )
    assert gateway_controllers_for(
        settings("ALBGatewayAPI=true", "NLBGatewayAPI=true"), {}
    ) == GatewayControllers(alb=True, nlb=True)
    # Set off with every CRD served: kept off.
    assert gateway_controllers_for(settings("NLBGatewayAPI=false"), everything) == GatewayControllers(
        alb=True, nlb=False
    )
    assert gateway_controllers_for(
        settings("ALBGatewayAPI=false", "NLBGatewayAPI=false"), everything
    ) == GatewayControllers(alb=False, nlb=False)
    # Only the defaulted gate was decided by discovery, so only it is logged.
    assert disabled_lines(caplog) == [DISABLED.format("NLBGatewayAPI", NLB_KINDS_TEXT)]


def test_required_resources_are_those_of_the_enabled_controllers_each_once() -> None:
    assert GatewayControllers(alb=False, nlb=False).required_resources == ()
    assert GatewayControllers(alb=True, nlb=False).required_resources == ALB_REQUIRED
    both = GatewayControllers(alb=True, nlb=True)
    assert both.required_resources == (*ALB_REQUIRED, TLS_ROUTES, TCP_ROUTES, UDP_ROUTES)
    assert both.gates_requiring(GATEWAYS) == ("ALBGatewayAPI", "NLBGatewayAPI")
    assert both.gates_requiring(UDP_ROUTES) == ("NLBGatewayAPI",)
    assert missing_kinds(NLB_REQUIRED, {V1: frozenset({"Gateway"})})[:2] == ("GatewayClass", "TLSRoute")


async def test_detection_on_the_standin_follows_the_crds_as_they_are_installed(
    standin_server: StandInApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=crd_detection.__name__)
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        assert await detect_gateway_controllers(kube, settings()) == GatewayControllers(alb=False, nlb=False)
        assert disabled_lines(caplog) == [
            DISABLED.format("ALBGatewayAPI", ALB_KINDS_TEXT),
            DISABLED.format("NLBGatewayAPI", NLB_KINDS_TEXT),
        ]

        await apply_crds(kube, GATEWAY_API_CRDS)
        caplog.clear()
        assert await detect_gateway_controllers(kube, settings()) == GatewayControllers(alb=False, nlb=False)
        lbc_only = "TargetGroupConfiguration, LoadBalancerConfiguration, ListenerRuleConfiguration"
        assert disabled_lines(caplog) == [
            DISABLED.format("ALBGatewayAPI", lbc_only),
            DISABLED.format("NLBGatewayAPI", lbc_only),
        ]

        await apply_crds(kube, OUR_GATEWAY_CRDS)
        assert await detect_gateway_controllers(kube, settings()) == GatewayControllers(alb=True, nlb=True)
        assert await detect_gateway_controllers(kube, settings("ALBGatewayAPI=false")) == GatewayControllers(
            alb=False, nlb=True
        )

        # The UDPRoute CRD removed (discovery drops it at once): only the NLB controller stops.
        await kube.request("DELETE", CRDS.object_path("udproutes.gateway.networking.k8s.io"))
        assert await detect_gateway_controllers(kube, settings()) == GatewayControllers(alb=True, nlb=False)


async def test_every_gate_set_explicitly_needs_no_discovery(standin_server: StandInApiServer) -> None:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        standin_server.faults.add(FaultRule(verb="get", resource="", status=500, times=None))
        both_set = settings("ALBGatewayAPI=true", "NLBGatewayAPI=false")

        assert await detect_gateway_controllers(kube, both_set) == GatewayControllers(alb=True, nlb=False)
        assert not [r for r in standin_server.requests.records() if r.info.path.startswith("/apis/gateway")]


async def test_a_discovery_failure_stops_start_up_naming_the_group_version(
    standin_server: StandInApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        standin_server.faults.add(FaultRule(verb="get", resource="", status=503, times=1))
        with pytest.raises(ControllerStartupError) as failed:
            await gateway_controllers(kube, settings())
        assert str(failed.value) == (
            "cannot discover the kinds of gateway.networking.k8s.io/v1: HTTP 503 ServiceUnavailable: injected fault"
        )

        # Every discovery request is bounded: a server that does not answer fails start-up.
        monkeypatch.setattr(crd_detection, "DISCOVERY_TIMEOUT_S", 0.2)
        standin_server.faults.add(FaultRule(verb="get", resource="", status=None, delay_seconds=2.0, times=1))
        with pytest.raises(
            ControllerStartupError,
            match=r"^cannot discover the kinds of gateway\.networking\.k8s\.io/v1: .*timed out",
        ):
            await gateway_controllers(kube, settings())


async def test_detection_on_the_real_apiserver(real_control_plane: RealControlPlane) -> None:
    """The Gateway CRDs may already be installed by another test of the session (CRDs are
    cluster-wide), so the "missing" case asks about a group version no one installs."""
    try:
        install_gateway_crds(real_control_plane)
    except GatewayCrdsUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    async with KubeClient.from_configuration(real_control_plane.client_configuration()) as kube:
        assert await served_kinds(kube, ["gateway.example.test/v1"]) == {
            "gateway.example.test/v1": frozenset()
        }
        served = await served_kinds(kube, [V1, LBC])
        assert served[V1] >= ALL_V1 and served[LBC] == LBC_KINDS

        both = await gateway_controllers(kube, settings())
        assert both == GatewayControllers(alb=True, nlb=True)
        await apply_crds(kube)  # the TargetGroupBinding and IngressClassParams CRDs, also checked
        await require_custom_resources(kube, None, both)  # every kind they watch is listable
        assert await gateway_controllers(kube, settings("NLBGatewayAPI=false")) == GatewayControllers(
            alb=True, nlb=False
        )
