"""Informer benchmark: initial sync of 20,000 Pods, cache memory per object, and update-event
throughput, compared with kopf 1.45.2 consuming the same update stream from the same server.

Three processes, so no two of them share an event loop or a GIL:

* the stand-in API server (``--serve``), seeded with 20,000 realistic Pods through its Python
  API (not 20,000 HTTP creates), driven by commands on its stdin;
* this process, running one ``SharedInformer`` for all Pods with a counting handler;
* a kopf operator (``--kopf``) with one ``@kopf.on.event`` handler for Pods, logging in through
  the stand-in's kubeconfig (kopf's built-in ``login_with_kubeconfig``), standalone (no peering),
  with event posting disabled.

The update stream: the server *stalls* its watch streams, applies 10,000 merge patches (one per
Pod, a label change), then resumes the streams on command. Timing starts when the resume command
is sent and ends when the client has handled the 10,000th update, so it measures how fast a
client consumes events, not how fast the stand-in can apply patches.

Memory: resident set size of this process (``VmRSS``) after a full garbage collection, before the
informer starts and after it has synced, divided by the number of cached Pods. The informer's
default transform drops ``metadata.managedFields``. RSS also counts memory the allocator keeps
after parsing the list pages, so this is an upper bound for the cache itself.

Prints one JSON object. Run: ``.venv/bin/python benchmarks/informer.py`` (about 1-2 min).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from asyncio.subprocess import DEVNULL, PIPE, Process
from pathlib import Path
from typing import Any

PODS = 20_000
UPDATES = 10_000
NAMESPACES = 20
STEP_TIMEOUT = 600.0  # seconds; any single phase taking longer is a failure, not a result


# ---------------------------------------------------------------------------- stand-in server


def realistic_pod(index: int) -> dict[str, Any]:
    """A Pod about the size of a small Deployment's replica (3-4 KB of JSON with managedFields)."""
    app = f"app-{index % 500}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-{index:06d}-x7k2q",
            "labels": {"app": app, "pod-template-hash": "6d9f8c7b5d", "tier": "backend"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-6d9f8c7b5d",
                    "uid": f"00000000-0000-0000-0000-{index % 500:012d}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"ip-10-0-{index % 64}-{index % 250}.ec2.internal",
            "serviceAccountName": "default",
            "containers": [
                {
                    "name": "app",
                    "image": f"registry.example.com/{app}:1.{index % 30}.0",
                    "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "APP_NAME", "value": app}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                }
            ],
        },
    }


async def serve(pods: int) -> None:
    """Seed the stand-in, print its address, then obey stdin commands (prepare N / resume / quit)."""
    from framework.testing.apiserver import StandInApiServer, StandInSettings
    from framework.testing.apiserver.registry import Target

    settings = StandInSettings(bookmark_interval_seconds=30.0, retained_events=100_000)
    async with StandInApiServer(settings) as server:
        pod_type = server.resources.get("", "pods")
        assert pod_type is not None
        names: list[tuple[str, str]] = []
        for index in range(pods):
            namespace = f"bench-{index % NAMESPACES}"
            server.registry.ensure_namespace(namespace)
            body = realistic_pod(index)
            server.registry.create(Target(pod_type, "v1", namespace), body, "bench-seed")
            names.append((namespace, body["metadata"]["name"]))
        print(json.dumps({"server": server.server, "kubeconfig": str(server.kubeconfig_path)}), flush=True)

        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        round_number = 0
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "quit":
                return
            command, _, argument = line.partition(" ")
            if command == "prepare":
                round_number += 1
                server.stall_watches("pods")
                started = time.perf_counter()
                patch = json.dumps({"metadata": {"labels": {"round": str(round_number)}}}).encode()
                for index in range(int(argument)):
                    namespace, name = names[index % len(names)]
                    target = Target(pod_type, "v1", namespace, name)
                    server.registry.patch(target, "application/merge-patch+json", patch, "bench-update")
                    if index % 500 == 499:
                        await asyncio.sleep(0)
                seconds = time.perf_counter() - started
                print(json.dumps({"prepared": int(argument), "seconds": seconds}), flush=True)
            elif command == "resume":
                server.resume_watches()
                print(json.dumps({"resumed": True}), flush=True)


# ---------------------------------------------------------------------------- kopf operator


def run_kopf(pods: int, updates: int) -> None:
    """A kopf operator counting Pod events; prints milestones as JSON lines on stdout."""
    import logging

    import kopf

    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    state = {"listed": 0, "updated": 0}

    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.watching.server_timeout = 600
        settings.watching.client_timeout = 660
        settings.watching.inactivity_timeout = 120
        settings.scanning.disabled = True

    # An async handler: kopf runs synchronous handlers in a thread pool, which would be unfair to it.
    @kopf.on.event("", "v1", "pods")
    async def on_pod_event(**kwargs: Any) -> None:
        event = kwargs["event"]
        if event.get("type") is None:  # kopf delivers the initial list as events of type None
            state["listed"] += 1
            if state["listed"] == pods:
                print(json.dumps({"listed": pods, "seconds": time.perf_counter() - started}), flush=True)
        elif event.get("type") == "MODIFIED":
            state["updated"] += 1
            if state["updated"] == updates:
                print(json.dumps({"updated": updates}), flush=True)

    asyncio.run(kopf.operator(standalone=True, clusterwide=True))


# ---------------------------------------------------------------------------- the measurement


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process: robust to other load on the machine, unlike wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def read_json_line(process: Process, what: str) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), STEP_TIMEOUT)
    if not line:
        raise RuntimeError(f"process ended before {what}")
    decoded: dict[str, Any] = json.loads(line)
    return decoded


async def send(process: Process, command: str) -> None:
    assert process.stdin is not None
    process.stdin.write(command.encode() + b"\n")
    await process.stdin.drain()


async def end_process(process: Process, *, polite: str | None = None) -> None:
    """Ask (stdin command) or signal the process to exit, then kill it if it does not."""
    if process.returncode is None:
        if polite is not None:
            await send(process, polite)
        else:
            process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()


async def measure_informer(server: Process, server_url: str) -> dict[str, Any]:
    from kubernetes_asyncio.client import Configuration

    from framework.informer import FunctionHandler, InformerFactory
    from framework.kube import PODS as POD_RESOURCE
    from framework.kube import KubeClient, RequestTimeouts

    configuration = Configuration(host=server_url)
    configuration.api_key = {"BearerToken": "standin"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    async with KubeClient.from_configuration(configuration, RequestTimeouts(total=120.0)) as client:
        counts = {"add": 0, "update": 0}
        updates_done = asyncio.Event()

        def on_add(obj: dict[str, Any], initial: bool) -> None:
            counts["add"] += 1

        def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
            counts["update"] += 1
            if counts["update"] == UPDATES:
                updates_done.set()

        gc.collect()
        rss_before = rss_bytes()
        factory = InformerFactory(client)
        informer = factory.informer(POD_RESOURCE)
        registration = informer.add_handler(FunctionHandler(add=on_add, update=on_update))
        started = time.perf_counter()
        cpu_started = cpu_seconds()
        factory.start()
        try:
            if not await factory.wait_for_sync(STEP_TIMEOUT):
                raise RuntimeError("informer did not sync")
            synced = time.perf_counter() - started
            await asyncio.wait_for(registration.wait_for_sync(), STEP_TIMEOUT)
            handler_synced = time.perf_counter() - started
            sync_cpu = cpu_seconds() - cpu_started
            assert counts["add"] == PODS == len(informer.store), (counts, len(informer.store))
            gc.collect()
            rss_after = rss_bytes()

            await send(server, f"prepare {UPDATES}")
            prepared = await read_json_line(server, "prepare")
            resume_sent = time.perf_counter()
            cpu_resumed = cpu_seconds()
            await send(server, "resume")
            await asyncio.wait_for(updates_done.wait(), STEP_TIMEOUT)
            delivery = time.perf_counter() - resume_sent
            delivery_cpu = cpu_seconds() - cpu_resumed
            await read_json_line(server, "resume")
        finally:
            await factory.stop()
    return {
        "initial_sync_seconds": round(synced, 3),
        "handler_initial_adds_seconds": round(handler_synced, 3),
        "initial_sync_cpu_seconds": round(sync_cpu, 2),
        "rss_bytes_per_cached_object": round((rss_after - rss_before) / PODS),
        "rss_delta_mib": round((rss_after - rss_before) / 2**20, 1),
        "update_events_per_second": round(UPDATES / delivery),
        "update_delivery_seconds": round(delivery, 3),
        "update_cpu_microseconds_per_event": round(delivery_cpu / UPDATES * 1e6),
        "server_patch_seconds": round(prepared["seconds"], 3),
    }


async def measure_kopf(server: Process, kubeconfig: str) -> dict[str, Any]:
    environment = {**os.environ, "KUBECONFIG": kubeconfig}
    kopf_process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--kopf",
        "--pods",
        str(PODS),
        "--updates",
        str(UPDATES),
        stdin=DEVNULL,
        stdout=PIPE,
        stderr=DEVNULL,
        env=environment,
    )
    try:
        listed = await read_json_line(kopf_process, "kopf's initial list")
        await asyncio.sleep(6.0)  # let kopf's per-object workers go idle (idle_timeout 5 s)
        kopf_rss = rss_bytes(kopf_process.pid)
        await send(server, f"prepare {UPDATES}")
        prepared = await read_json_line(server, "prepare")
        resume_sent = time.perf_counter()
        cpu_resumed = cpu_seconds(kopf_process.pid)
        await send(server, "resume")
        await read_json_line(kopf_process, "kopf's updates")
        delivery = time.perf_counter() - resume_sent
        delivery_cpu = cpu_seconds(kopf_process.pid) - cpu_resumed
        await read_json_line(server, "resume")
    finally:
        await end_process(kopf_process)
    return {
        "initial_list_seconds": round(listed["seconds"], 3),
        "process_rss_mib_after_list": round(kopf_rss / 2**20, 1),
        "update_events_per_second": round(UPDATES / delivery),
        "update_delivery_seconds": round(delivery, 3),
        "update_cpu_microseconds_per_event": round(delivery_cpu / UPDATES * 1e6),
        "server_patch_seconds": round(prepared["seconds"], 3),
    }


async def measure(skip_kopf: bool) -> dict[str, Any]:
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        "--pods",
        str(PODS),
        stdin=PIPE,
        stdout=PIPE,
        # The stand-in logs a traceback whenever a client goes away mid-stream (kopf at exit).
        stderr=DEVNULL,
        limit=2**20,
    )
    try:
        seeded_at = time.perf_counter()
        address = await read_json_line(server, "the server address")
        seed_seconds = time.perf_counter() - seeded_at
        ours = await measure_informer(server, address["server"])
        result: dict[str, Any] = {
            "benchmark": "informer",
            "pods": PODS,
            "updates": UPDATES,
            "seed_seconds": round(seed_seconds, 1),
            "informer": ours,
        }
        if not skip_kopf:
            kopf = await measure_kopf(server, address["kubeconfig"])
            result["kopf"] = kopf
            result["update_throughput_ratio_ours_to_kopf"] = round(
                ours["update_events_per_second"] / kopf["update_events_per_second"], 2
            )
            result["update_cpu_ratio_kopf_to_ours"] = round(
                kopf["update_cpu_microseconds_per_event"] / max(1, ours["update_cpu_microseconds_per_event"]),
                2,
            )
        result["load_average_1m"] = round(os.getloadavg()[0], 1)
        result["cpu_count"] = os.cpu_count()
        return result
    finally:
        await end_process(server, polite="quit")


def main() -> None:
    global PODS, UPDATES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kopf", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pods", type=int, default=PODS)
    parser.add_argument("--updates", type=int, default=UPDATES)
    parser.add_argument("--skip-kopf", action="store_true", help="measure only our informer")
    args = parser.parse_args()
    PODS, UPDATES = args.pods, args.updates
    if args.serve:
        asyncio.run(serve(args.pods))
    elif args.kopf:
        run_kopf(args.pods, args.updates)
    else:
        print(json.dumps(asyncio.run(measure(args.skip_kopf))))


if __name__ == "__main__":
    main()
