"""What the process derives and checks before wiring: settings from flags, the CRD check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from gateway_api_crds import GATEWAY_API_CRDS, OUR_GATEWAY_CRDS

from controller.config import parse_config
from controller.gateway.crd_detection import GatewayControllers
from controller.sandbox.cluster import CRD_DIR, CRDS, apply_crds
from controller.startup import (
    GATEWAY_API_RELEASE,
    ControllerStartupError,
    aws_settings_from,
    leader_election_namespace,
    manager_settings,
    require_custom_resources,
)
from framework.kube import KubeClient
from framework.testing.apiserver import FaultRule, StandInApiServer


def test_manager_settings_follow_upstream_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    config = parse_config(
        ["--cluster-name=c", "--metrics-bind-addr=127.0.0.1:9000", "--health-probe-bind-addr=:9001"]
    )
    settings = manager_settings(config)
    assert settings.metrics_address is not None and settings.metrics_address.port == 9000
    assert settings.probe_address is not None and settings.probe_address.host is None
    assert settings.leader_election is not None
    assert settings.leader_election.lease_name == "aws-load-balancer-controller-leader"
    assert (settings.leader_election.lease_duration, settings.leader_election.renew_deadline) == (15.0, 10.0)
    assert (
        manager_settings(parse_config(["--cluster-name=c", "--enable-leader-election=false"])).leader_election
        is None
    )


def test_leader_election_namespace_prefers_flag_then_pod_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "lb-system")
    assert leader_election_namespace(parse_config(["--cluster-name=c"])) == "lb-system"
    assert (
        leader_election_namespace(parse_config(["--cluster-name=c", "--leader-election-namespace=x"])) == "x"
    )


def test_aws_settings_from_flags() -> None:
    config = parse_config(
        [
            "--cluster-name=c",
            "--aws-region=eu-west-1",
            "--aws-max-retries=3",
            "--aws-api-endpoints=ec2=http://127.0.0.1:1,elasticloadbalancing=http://127.0.0.1:1",
        ]
    )
    settings = aws_settings_from(config)
    assert settings.region == "eu-west-1"
    assert settings.endpoint_url == "http://127.0.0.1:1"
    assert settings.retry.max_retries == 3
    with pytest.raises(ControllerStartupError, match="one endpoint"):
        aws_settings_from(
            parse_config(
                ["--cluster-name=c", "--aws-api-endpoints=ec2=http://a,elasticloadbalancing=http://b"]
            )
        )


async def test_custom_resources_are_required_before_anything_starts(standin_server: StandInApiServer) -> None:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        with pytest.raises(ControllerStartupError) as missing:
            await require_custom_resources(kube, None)
        assert str(missing.value) == (
            "the TargetGroupBinding CRD (targetgroupbindings.elbv2.k8s.aws, version v1beta1) is not installed "
            "in the cluster; install it with `kubectl apply -k config/crd`"
        )
        # An older install has only the TargetGroupBinding CRD: the IngressClassParams one is named.
        tgb_crd = yaml.safe_load((CRD_DIR / "elbv2.k8s.aws_targetgroupbindings.yaml").read_text())
        await kube.create(CRDS, tgb_crd)
        with pytest.raises(ControllerStartupError) as params_missing:
            await require_custom_resources(kube, "team-a")
        assert str(params_missing.value) == (
            "the IngressClassParams CRD (ingressclassparams.elbv2.k8s.aws, version v1beta1) is not installed "
            "in the cluster; install it with `kubectl apply -k config/crd`"
        )
        await apply_crds(kube)
        await require_custom_resources(kube, None)
        await require_custom_resources(kube, "team-a")  # --watch-namespace lists only there

        standin_server.faults.add(FaultRule(verb="list", resource="targetgroupbindings", status=403, times=1))
        with pytest.raises(
            ControllerStartupError, match=r"cannot list targetgroupbindings\.elbv2\.k8s\.aws: HTTP 403"
        ):
            await require_custom_resources(kube, None)


STANDARD_INSTALL = (
    "kubectl apply --server-side -f "
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.3/standard-install.yaml"
)


async def test_gateway_crds_are_required_only_for_the_gateway_controllers_that_run(
    standin_server: StandInApiServer,
) -> None:
    """A gate the user set on without the CRDs (a defaulted one is turned off by detection instead)
    stops start-up naming the first missing CRD, its install command, and the gate."""
    alb, nlb = GatewayControllers(alb=True, nlb=False), GatewayControllers(alb=False, nlb=True)
    both = GatewayControllers(alb=True, nlb=True)
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        await apply_crds(kube)
        await require_custom_resources(kube, None)  # no Gateway controller: no Gateway CRD needed
        await require_custom_resources(kube, None, GatewayControllers(alb=False, nlb=False))
        with pytest.raises(ControllerStartupError) as no_gateway_api:
            await require_custom_resources(kube, None, both)
        assert str(no_gateway_api.value) == (
            "the Gateway CRD (gateways.gateway.networking.k8s.io, version v1) is not installed in the cluster; "
            f"install it with `{STANDARD_INSTALL}` or turn off the ALBGatewayAPI and NLBGatewayAPI feature gates"
        )

        await apply_crds(kube, GATEWAY_API_CRDS)
        with pytest.raises(ControllerStartupError) as no_lbc_crds:
            await require_custom_resources(kube, "team-a", alb)
        assert str(no_lbc_crds.value) == (
            "the TargetGroupConfiguration CRD (targetgroupconfigurations.gateway.k8s.aws, version v1) is not "
            "installed in the cluster; install it with `kubectl apply -k config/crd/gateway` or turn off the "
            "ALBGatewayAPI feature gate"
        )

        await apply_crds(kube, OUR_GATEWAY_CRDS)
        await require_custom_resources(kube, None, both)
        await require_custom_resources(kube, "team-a", both)

        # Only the NLB controller watches UDPRoutes.
        await kube.request("DELETE", CRDS.object_path("udproutes.gateway.networking.k8s.io"))
        await require_custom_resources(kube, None, alb)
        with pytest.raises(
            ControllerStartupError, match=r"^the UDPRoute CRD .* turn off the NLBGatewayAPI feature gate$"
        ):
            await require_custom_resources(kube, None, nlb)


def test_the_gateway_api_install_hint_names_the_release_the_tests_install() -> None:
    fetch = (Path(__file__).resolve().parents[2] / "tools" / "gateway-api" / "fetch.sh").read_text()
    pinned = re.search(r'^version="(v[0-9.]+)"$', fetch, re.MULTILINE)
    assert pinned is not None
    assert pinned.group(1) == GATEWAY_API_RELEASE
