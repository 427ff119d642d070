"""docker-compose.yml against the Compose Specification's JSON schema, the strict interpolation the
local run relies on, the controller's flags against make run's, and Grafana's provisioning.

The schema is compose-go's ``schema/compose-spec.json`` (what ``docker compose`` validates with),
fetched by ``make compose-schema`` (tools/compose-schema/fetch.sh); without it the test fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from compose_local import (
    COMPOSE_FILE,
    REPO,
    SCHEMA,
    InterpolationError,
    dependencies,
    interpolate,
    interpolate_tree,
    load_compose,
    start_order,
)
from jsonschema import Draft202012Validator, FormatChecker

from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.run import SandboxPorts, controller_command
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, SandboxVpc


def _validator() -> Draft202012Validator:
    if not SCHEMA.is_file():
        pytest.fail(f"{SCHEMA} is missing: run `make compose-schema` (tools/compose-schema/fetch.sh)")
    return Draft202012Validator(json.loads(SCHEMA.read_text()), format_checker=FormatChecker())


def _errors(document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _validator().iter_errors(document)
    ]


def test_the_file_and_its_default_interpolation_match_the_compose_schema() -> None:
    document = load_compose()
    assert _errors(document) == []
    assert _errors(interpolate_tree(document, {})) == []


def test_the_schema_is_the_real_one_and_catches_mistakes() -> None:
    """A validator that accepts anything would prove nothing."""
    document = load_compose()
    document["services"]["controller"]["depends_on"]["seed"]["condition"] = "service_done"
    document["services"]["aws"]["healthchek"] = document["services"]["aws"].pop("healthcheck")
    document["services"]["prometheus"]["ports"] = 9090
    problems = _errors(document)
    assert any(p.startswith("services/controller/depends_on") for p in problems), problems
    assert any(p.startswith("services/aws") and "healthchek" in p for p in problems), problems
    assert any(p.startswith("services/prometheus/ports") for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${A}", "a"),
        ("x${A}y${B}z", "xaybz"),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${A:-d}", "a"),
        ("${UNSET:-}/etc", "/etc"),
        ("$$1 and $${A}", "$1 and ${A}"),
    ],
)
def test_interpolation_does_what_compose_does(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "a", "B": "b", "EMPTY": ""}) == expected


@pytest.mark.parametrize(
    "text",
    ["$A", "${A-d}", "${A:?needed}", "${A:+x}", "${UNSET}", "${A", "${UNSET:-${B}}", "trailing $", "${}"],
)
def test_interpolation_fails_on_what_it_does_not_understand(text: str) -> None:
    with pytest.raises(InterpolationError):
        interpolate(text, {"A": "a", "B": "b"})


def test_services_start_after_what_they_depend_on() -> None:
    services = load_compose()["services"]
    order = start_order(services)
    for name in order:
        for dependency in dependencies(services[name]):
            assert order.index(dependency) < order.index(name)
    assert order.index("seed") < order.index("controller") < order.index("samples")
    with pytest.raises(ValueError, match="cycle"):
        start_order({"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}})


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in argv if arg.startswith("--"))


def test_the_controller_runs_with_make_runs_flags() -> None:
    """Same flags as ``make run`` gives it; only the VPC is found by its tag (its id is only known
    once seeded) and the addresses are the container's."""
    vpc = SandboxVpc(vpc_id="vpc-1", subnet_ids=(), cluster_name=SANDBOX_CLUSTER, region=SANDBOX_REGION)
    make_run = _flags(
        controller_command(
            SandboxCluster(vpc=vpc, node_security_group_id="sg-1", nodes=()),
            Path("kubeconfig"),
            SandboxPorts(api=1, metrics=2, health=3, moto=4, proxy=5),
        )
    )
    controller = interpolate_tree(load_compose()["services"]["controller"], {})
    compose = _flags(controller["command"])
    assert set(compose) - {"aws-vpc-tags"} == set(make_run) - {"aws-vpc-id"}
    for same in ("cluster-name", "aws-region", "leader-election-namespace"):
        assert compose[same] == make_run[same]
    assert compose["aws-vpc-tags"] == f"Name={SANDBOX_CLUSTER}"  # what seed_vpc tags the VPC with
    assert compose["kubeconfig"] == "/sandbox/kubeconfig"
    assert compose["metrics-bind-addr"] == "0.0.0.0:8080"
    assert controller["environment"]["AWS_REGION"] == SANDBOX_REGION


def test_prometheus_loads_the_alert_rules_next_to_its_config() -> None:
    document = interpolate_tree(load_compose(), {})
    prometheus = document["services"]["prometheus"]
    targets = {config["source"]: PurePosixPath(config["target"]) for config in prometheus["configs"]}
    config = yaml.safe_load(document["configs"]["prometheus"]["content"])
    assert f"--config.file={targets['prometheus']}" in prometheus["command"]
    rule_files = [targets["prometheus"].parent / name for name in config["rule_files"]]
    assert rule_files == [targets["alerts"]]
    assert document["configs"]["alerts"]["file"] == "./config/prometheus/alerts.yaml"
    scrape = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert scrape == ["controller:8080"]


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    """Grafana cannot run here (no Debian package): its provisioning is checked against the
    dashboard file and the Prometheus service instead."""
    document = interpolate_tree(load_compose(), {})
    grafana = document["services"]["grafana"]
    assert grafana["profiles"] == ["grafana"]
    targets = {config["source"]: PurePosixPath(config["target"]) for config in grafana["configs"]}
    datasources = yaml.safe_load(document["configs"]["grafana-datasource"]["content"])["datasources"]
    prometheus = document["services"]["prometheus"]
    listen_port = next(a for a in prometheus["command"] if a.startswith("--web.listen-address=")).split(":")[
        -1
    ]
    assert datasources == [
        {
            "name": "Prometheus",
            "uid": "prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": f"http://prometheus:{listen_port}",
            "isDefault": True,
        }
    ]
    assert targets["grafana-datasource"].parent == PurePosixPath("/etc/grafana/provisioning/datasources")
    assert targets["grafana-dashboards"].parent == PurePosixPath("/etc/grafana/provisioning/dashboards")
    providers = yaml.safe_load(document["configs"]["grafana-dashboards"]["content"])["providers"]
    assert [p["options"]["path"] for p in providers] == [str(targets["grafana-dashboard"].parent)]
    dashboard_file = REPO / document["configs"]["grafana-dashboard"]["file"]
    assert dashboard_file == REPO / "config" / "grafana" / "aws-lb-sg-controller.json"
    dashboard = json.loads(dashboard_file.read_text())
    # Provisioning does not resolve __inputs: the dashboard finds its data source through its
    # `datasource` variable, which starts on the default Prometheus data source provisioned above.
    assert dashboard["__inputs"] == []
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "datasource")
    assert (variable["type"], variable["query"]) == ("datasource", datasources[0]["type"])
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert PurePosixPath(home) == targets["grafana-dashboard"]
    assert dependencies(grafana) == {"prometheus": "service_healthy"}


def test_the_sandbox_image_serves_the_python_services() -> None:
    """The Python services run the Dockerfile's `sandbox` target, the controller its default one."""
    services = load_compose()["services"]
    stages = re.findall(r"^FROM \S+(?: AS (\S+))?$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert "sandbox" in stages and stages[-1] == ""  # the controller image stays the default target
    for name in ("aws", "apiserver", "seed", "samples"):
        assert services[name]["build"] == {"context": ".", "target": "sandbox"}, name
    assert services["controller"]["build"] == "."
    assert services["controller"]["entrypoint"] == ["aws-lb-sg-controller"]
    assert COMPOSE_FILE.name == "docker-compose.yml"
