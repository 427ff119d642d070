"""Cost of one Kubernetes request: ``KubeClient`` GET with aiohttp's ``trust_env`` on vs off.

``baseline`` is the client as kubernetes_asyncio builds it (``ApiClient(configuration)``: its session
trusts the environment, so every request looks up ~/.netrc and the proxy variables in the thread
pool); ``fixed`` is ``KubeClient.from_environment`` as the controller builds it
(``framework.kube_session``: the proxy is resolved once, the session trusts nothing). Both GET the
same Lease from the stand-in API server, which runs in a child process so that only the client's
CPU is counted (``time.process_time`` covers the thread-pool workers too). The two clients take
turns for several rounds in the same run; the median round is reported.

Prints one JSON object. Run: ``.venv/bin/python benchmarks/kube_requests.py`` (about 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from framework.kube import LEASES, KubeClient

LEASE = {"metadata": {"name": "bench"}, "spec": {"holderIdentity": "bench"}}


def start_standin(kubeconfig: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "framework.testing.apiserver", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening" not in line:
        process.kill()
        raise RuntimeError(f"stand-in API server did not start: {line!r}")
    return process


async def baseline_client(kubeconfig: Path) -> KubeClient:
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return KubeClient(k8s_client.ApiClient(configuration))


async def timed_gets(client: KubeClient, requests: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per GET over ``requests`` sequential GETs."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        await client.get(LEASES, "bench", "default")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / requests, wall * 1000 / requests


async def run(kubeconfig: Path, requests: int, rounds: int) -> dict[str, object]:
    baseline = await baseline_client(kubeconfig)
    fixed = await KubeClient.from_environment(kubeconfig=str(kubeconfig))
    clients = {"baseline": baseline, "fixed": fixed}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    try:
        await fixed.create(LEASES, LEASE, "default")
        for client in clients.values():
            await timed_gets(client, 50)  # warm: connections open, code paths hot
        for _ in range(rounds):
            for name, client in clients.items():
                samples[name].append(await timed_gets(client, requests))
    finally:
        for client in clients.values():
            await client.close()
    report: dict[str, object] = {"requests_per_round": requests, "rounds": rounds}
    medians = {}
    for name, values in samples.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        medians[name] = (cpu, wall)
        report[name] = {"cpu_ms_per_request": round(cpu, 4), "wall_ms_per_request": round(wall, 4)}
    report["cpu_ratio_baseline_over_fixed"] = round(medians["baseline"][0] / medians["fixed"][0], 2)
    report["wall_ratio_baseline_over_fixed"] = round(medians["baseline"][1] / medians["fixed"][1], 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="GETs per client per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kube-requests-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        standin = start_standin(kubeconfig)
        try:
            report = asyncio.run(run(kubeconfig, args.requests, args.rounds))
        finally:
            standin.terminate()
            standin.wait(timeout=10)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
