"""End to end: the Grafana dashboard and the alert rules against a real Prometheus scraping the
working controller.

The controller reconciles an Ingress into an ALB (and fails on a second, broken one) while Debian's
Prometheus scrapes it every second with config/prometheus/alerts.yaml loaded. Every panel query of
config/grafana/aws-lb-sg-controller.json, as Grafana would send it, must parse and return at least
one series; every alert rule must evaluate without error, and none of those describing a broken
controller (no leader, rules over quota) may be active.
"""

from __future__ import annotations

from pathlib import Path

from e2e_harness import StartController, wait_for, wait_for_load_balancer
from e2e_objects import create_node_port_service, ingress_manifest
from grafana_dashboard import all_value, interpolate, load_dashboard, panel_queries
from prometheus_server import PrometheusServer, running_prometheus

from controller.aws.client import AwsClient
from framework.kube import INGRESSES, KubeClient

ALERTS = Path(__file__).resolve().parent.parent.parent / "config" / "prometheus" / "alerts.yaml"
JOB = "aws-lb-sg-controller"
SCRAPE_INTERVAL_S = 1
# Grafana's $__interval for a one-hour range on a panel about 1000 px wide.
GRAFANA_INTERVAL_S = 15
# Alerts that must stay inactive while the controller works.
HEALTHY_ALERTS = ("AWSLoadBalancerControllerNoLeader", "AWSLoadBalancerControllerRulesOverQuota")


async def test_every_dashboard_query_returns_series_and_every_alert_rule_evaluates(
    aws_api: AwsClient,
    kube: KubeClient,
    namespace: str,
    start_controller: StartController,
    tmp_path: Path,
) -> None:
    dashboard = load_dashboard()
    variables = {"job": all_value(dashboard, "job")}
    queries = [
        (
            query,
            interpolate(
                query.expr,
                variables=variables,
                interval_s=GRAFANA_INTERVAL_S,
                scrape_interval_s=SCRAPE_INTERVAL_S,
            ),
        )
        for query in panel_queries(dashboard)
    ]
    await create_node_port_service(kube, namespace, "echo")
    await create_node_port_service(kube, namespace, "other")
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()

    async with start_controller() as running:
        await kube.create(
            INGRESSES,
            ingress_manifest("broken", "other", {"alb.ingress.kubernetes.io/inbound-cidrs": "10.0.0.0/33"}),
            namespace,
        )
        await kube.create(INGRESSES, ingress_manifest("echo", "echo"), namespace)
        async with running_prometheus(
            prometheus_dir,
            job=JOB,
            targets=[f"127.0.0.1:{running.metrics_port}"],
            rule_files=[ALERTS],
            scrape_interval_s=SCRAPE_INTERVAL_S,
        ) as prometheus:
            await wait_for_load_balancer(running, aws_api, kube, namespace, "echo")

            async def scraped_a_few_times() -> bool | None:
                # Rates over $__rate_interval need several samples inside the window.
                counts = await prometheus.query(f'count_over_time(up{{job="{JOB}"}}[1m]) >= 5')
                return True if counts else None

            await wait_for(running, scraped_a_few_times, "five scrapes of the controller")

            async def every_query_returns_series() -> dict[str, int] | None:
                # A parse or evaluation error raises PrometheusQueryError at once (not retried).
                found: dict[str, int] = {}
                empty: list[str] = []
                for query, sent in queries:
                    series = await prometheus.query(sent)
                    label = f"{query.panel_title} [{query.ref_id}]"
                    found[label] = len(series)
                    if not series:
                        empty.append(f"{label}: {sent}")
                assert not empty, "no series for:\n" + "\n".join(empty)
                return found

            found = await wait_for(
                running, every_query_returns_series, "every dashboard query to return series"
            )
            # The job variable's query (label_values(controller_runtime_reconcile_total, job)).
            jobs = await prometheus.query("count by (job) (controller_runtime_reconcile_total)")
            assert [series["metric"]["job"] for series in jobs] == [JOB]
            rules = await wait_for(
                running, lambda: _evaluated_rules(prometheus), "every alert rule evaluated"
            )

    for label, count in found.items():
        print(f"{count:4d} series  {label}")
    assert len(found) == len(queries)
    for name, (health, state) in sorted(rules.items()):
        print(f"rule {name}: health={health} state={state}")
        assert health == "ok", name
    assert len(rules) == 8
    for name in HEALTHY_ALERTS:
        assert rules[name][1] == "inactive", f"{name} is {rules[name][1]} while the controller works"


async def _evaluated_rules(prometheus: PrometheusServer) -> dict[str, tuple[str, str]] | None:
    """alertname -> (health, state) once every loaded rule has been evaluated at least once."""
    rules = [rule for group in await prometheus.rule_groups() for rule in group["rules"]]
    if not rules or any(rule["health"] == "unknown" for rule in rules):
        return None
    for rule in rules:
        assert not rule.get("lastError"), f"{rule['name']}: {rule['lastError']}"
    return {rule["name"]: (rule["health"], rule["state"]) for rule in rules}
