"""config/prometheus/alerts.yaml: promtool accepts it, its unit tests (alerts_test.yaml next to this
file) fire and silence every alert on synthetic series, and the Prometheus Operator's copy
(prometheusrule.yaml, in the kustomization) carries exactly the same rules."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_server import prometheus_binary

ROOT = Path(__file__).resolve().parent.parent.parent
PROMETHEUS_CONFIG = ROOT / "config" / "prometheus"
ALERTS = PROMETHEUS_CONFIG / "alerts.yaml"
ALERT_TESTS = Path(__file__).resolve().parent / "alerts_test.yaml"

EXPECTED_ALERTS = {
    "AWSLoadBalancerControllerReconcileErrors",
    "AWSLoadBalancerControllerAWSThrottling",
    "AWSLoadBalancerControllerAWSPermissionErrors",
    "AWSLoadBalancerControllerNoLeader",
    "AWSLoadBalancerControllerWorkQueueStuck",
    "AWSLoadBalancerControllerReconcileHung",
    "AWSLoadBalancerControllerRulesOverQuota",
    "AWSLoadBalancerControllerLeakedResources",
}


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_binary("promtool"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promtool_checks_the_rules() -> None:
    result = _promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout


def test_every_alert_has_a_duration_a_severity_and_text() -> None:
    rules = _rules()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert rule.get("for"), f"{rule['alert']} fires on a single evaluation"
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_promtool_unit_tests_fire_and_silence_every_alert() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert tested == EXPECTED_ALERTS, f"no firing case for {EXPECTED_ALERTS - tested}"
    silent = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if not case["exp_alerts"]
    }
    assert silent == EXPECTED_ALERTS, f"no silent case for {EXPECTED_ALERTS - silent}"
    result = _promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_prometheus_rule_resource_carries_the_same_groups_and_is_in_the_kustomization() -> None:
    resource = yaml.safe_load((PROMETHEUS_CONFIG / "prometheusrule.yaml").read_text())
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    source = yaml.safe_load(ALERTS.read_text())["groups"]
    assert resource["spec"]["groups"] == source, (
        "prometheusrule.yaml drifted from alerts.yaml; its spec.groups should be:\n"
        + yaml.safe_dump({"groups": source}, sort_keys=False, width=100)
    )
    kustomization = yaml.safe_load((PROMETHEUS_CONFIG / "kustomization.yaml").read_text())
    assert "prometheusrule.yaml" in kustomization["resources"]
