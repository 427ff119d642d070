"""config/grafana/aws-lb-sg-controller.json is a dashboard Grafana imports as it is.

Whether every query parses and returns series is checked against a real Prometheus scraping the
controller in tests/e2e/test_e2e_dashboard.py; this checks the shape Grafana needs.
"""

from __future__ import annotations

import re

from grafana_dashboard import (
    GRID_COLUMNS,
    all_panels,
    all_value,
    interpolate,
    load_dashboard,
    panel_queries,
    query_panels,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# What an operator asks the dashboard, as metric names: every one must be on some panel.
OPERATOR_METRICS = (
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "awslbc_controller_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds_bucket",
    "workqueue_depth",
    "workqueue_queue_duration_seconds_bucket",
    "workqueue_longest_running_processor_seconds",
    "aws_api_calls_total",
    "aws_api_call_throttled_errors_total",
    "aws_api_call_permission_errors_total",
    "aws_api_throttle_wait_seconds_bucket",
    "aws_api_throttle_rate",
    "awslbc_security_group_rules",
    "awslbc_security_group_rules_over_quota",
    "awslbc_security_group_rules_quota",
    "awslbc_leaked_security_groups",
    "awslbc_leaked_load_balancers",
    "awslbc_leaked_target_groups",
    "awslbc_leaked_rules",
    "leader_election_master_status",
    "process_resident_memory_bytes",
)


def test_dashboard_has_a_prometheus_datasource_variable_and_a_job_filter() -> None:
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == "aws-lb-sg-controller"
    variables = {entry["name"]: entry for entry in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    job = variables["job"]
    assert job["type"] == "query" and job["datasource"] == DATASOURCE
    assert job["includeAll"] and job["multi"] and job["allValue"] == ".+"


def test_panel_ids_and_titles_are_unique_and_every_panel_has_the_datasource_and_targets() -> None:
    dashboard = load_dashboard()
    ids = [panel["id"] for panel in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {ids}"
    titles = [panel["title"] for panel in all_panels(dashboard)]
    assert len(titles) == len(set(titles)), f"duplicate panel titles in {titles}"
    for panel in query_panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no targets"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"panel {panel['title']!r} repeats a refId"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]
        assert panel.get("description"), f"panel {panel['title']!r} has no description"


def test_panels_fit_the_24_column_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in all_panels(load_dashboard()):
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0, panel["title"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        for column in range(grid["x"], grid["x"] + grid["w"]):
            for row in range(grid["y"], grid["y"] + grid["h"]):
                other = taken.setdefault((column, row), panel["title"])
                assert other == panel["title"], f"{panel['title']!r} overlaps {other!r}"


def test_every_query_filters_by_job_and_the_operator_metrics_are_all_shown() -> None:
    queries = panel_queries(load_dashboard())
    for query in queries:
        # Every selector carries the job filter, so choosing a job narrows every panel.
        for selector in re.findall(r"\b[a-z_]+\{[^}]*\}", query.expr):
            assert 'job=~"$job"' in selector, f"{query.panel_title}: {selector}"
    shown = " ".join(query.expr for query in queries)
    missing = [name for name in OPERATOR_METRICS if not re.search(rf"\b{name}\{{", shown)]
    assert not missing, f"no panel shows {missing}"


def test_interpolation_substitutes_grafanas_intervals_and_the_all_value() -> None:
    dashboard = load_dashboard()
    expr = 'sum(rate(x{job=~"$job"}[$__rate_interval])) / ${job_count} + $__interval'
    sent = interpolate(
        expr,
        variables={"job": all_value(dashboard, "job"), "job_count": "2"},
        interval_s=15,
        scrape_interval_s=1,
    )
    assert sent == 'sum(rate(x{job=~".+"}[16s])) / 2 + 15s'
    # With a 30 s scrape, four scrapes win over one step plus a scrape.
    assert "[120s]" in interpolate("[$__rate_interval]", variables={}, interval_s=15, scrape_interval_s=30)
