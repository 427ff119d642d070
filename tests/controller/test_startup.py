"""What the process derives and checks before wiring: settings from flags, the CRD check."""

from __future__ import annotations

import pytest
import yaml

from controller.config import parse_config
from controller.sandbox.cluster import CRD_DIR, CRDS, apply_crds
from controller.startup import (
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
