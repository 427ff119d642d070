"""Every service of docker-compose.yml (except the Grafana profile: no Grafana here) run as a local
process with its very arguments and environment, in depends_on order, each waited for as its
dependants ask (healthcheck commands run as they are): the controller converges on the samples
the `samples` service applies, and Prometheus scrapes it with the alert rules loaded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from compose_local import REPO, LocalCompose, interpolate_tree, load_compose, local_compose, local_variables
from prometheus_client import CollectorRegistry
from prometheus_server import PrometheusServer

from controller.aws.client import open_aws_client
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.convergence import not_converged
from controller.sandbox.progress import ProgressSources, read_progress
from framework.kube import KubeClient

CONVERGE_TIMEOUT_S = 60.0
POLL_S = 0.5


def _json_line(compose: LocalCompose, name: str) -> dict[str, Any]:
    """The one JSON line a one-shot service prints."""
    lines = [line for line in compose.running[name].stdout_lines() if line.startswith("{")]
    assert len(lines) == 1, compose.running[name].log_tail()
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def _flag(argv: list[str], name: str) -> str:
    return next(arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}="))


async def _converged(compose: LocalCompose, seeded: dict[str, Any]) -> None:
    """As ``make run --once`` decides it: nothing missing, and the numbers still for 3 polls."""
    controller = compose.service("controller")
    listen = _flag(controller["command"], "metrics-bind-addr")
    kubeconfig = _flag(controller["command"], "kubeconfig")
    endpoint = controller["environment"]["AWS_ENDPOINT_URL"]
    async with (
        open_aws_client(sandbox_settings(endpoint), CollectorRegistry()) as aws,
        await KubeClient.from_environment(kubeconfig=kubeconfig) as kube,
        aiohttp.ClientSession() as http,
    ):
        sources = ProgressSources(
            metrics_url=f"http://{listen}/metrics",
            moto=aws,
            cluster_name=seeded["cluster_name"],
            vpc_id=seeded["vpc_id"],
            node_security_groups=(seeded["node_security_group"],),
            aws_calls=lambda: 0,
        )
        recent: list[Any] = []
        missing: list[str] = ["not polled yet"]
        try:
            async with asyncio.timeout(CONVERGE_TIMEOUT_S):
                while True:
                    progress = await read_progress(http, sources)
                    recent = [*recent[-2:], progress]
                    missing = await not_converged(kube, progress)
                    if not missing and len(recent) == 3 and len(set(recent)) == 1:
                        break
                    await asyncio.sleep(POLL_S)
        except TimeoutError:
            raise AssertionError(
                f"not converged: {missing}\n{compose.running['controller'].log_tail()}"
            ) from None
    numbers = recent[-1]
    assert numbers.aws is not None and numbers.controller is not None
    # The samples' load balancers exist and the controller opened the node SG to them.
    assert numbers.aws.load_balancers >= 1 and numbers.aws.our_security_groups >= 1, numbers
    assert dict(numbers.aws.node_sg_rules)[seeded["node_security_group"]] > 0, numbers
    assert numbers.controller.failed == 0, numbers


async def _prometheus_scrapes_with_the_rules(compose: LocalCompose) -> None:
    listen = _flag(compose.service("prometheus")["command"], "web.listen-address")
    alerts = yaml.safe_load((REPO / "config" / "prometheus" / "alerts.yaml").read_text())
    expected = {group["name"]: sorted(rule["alert"] for rule in group["rules"]) for group in alerts["groups"]}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        prometheus = PrometheusServer(f"http://{listen}", session)
        loaded = {
            group["name"]: sorted(rule["name"] for rule in group["rules"])
            for group in await prometheus.rule_groups()
        }
        assert loaded == expected
        try:
            async with asyncio.timeout(30):
                # Polled: the first scrape comes within one scrape interval of start-up.
                while True:
                    up = await prometheus.query('up{job="aws-lb-sg-controller"}')
                    if up:
                        break
                    await asyncio.sleep(POLL_S)
        except TimeoutError:
            raise AssertionError(f"no scrape:\n{compose.running['prometheus'].log_tail()}") from None
    assert [sample["value"][1] for sample in up] == ["1"]


async def test_every_service_runs_locally_and_the_sandbox_converges(tmp_path: Path) -> None:
    raw = load_compose()
    root = tmp_path / "root"
    root.mkdir()
    document = interpolate_tree(raw, local_variables(raw, root))
    services: dict[str, dict[str, Any]] = document["services"]
    to_run = [name for name in services if "profiles" not in services[name]]
    assert sorted(set(services) - set(to_run)) == ["grafana"]
    async with local_compose(document, root) as compose:
        await compose.start_all(to_run)
        # Nothing depends on these: wait for them as `docker compose up --wait` would.
        await compose.wait_for("samples", "service_completed_successfully")
        await compose.wait_healthy("prometheus")
        assert _json_line(compose, "samples")["applied"] > 0

        await _converged(compose, _json_line(compose, "seed"))
        await _prometheus_scrapes_with_the_rules(compose)

        codes = await compose.stop_all()
        # Every long-running service stops cleanly on SIGTERM, and leaves no process behind.
        assert codes == dict.fromkeys(["prometheus", "controller", "apiserver", "aws"], 0)
        assert await compose.leftover_process_groups() == []
