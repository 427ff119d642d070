"""The controller as it runs in a cluster: its own process, a kubeconfig, an AWS endpoint.

The world around it: the Kubernetes API (stand-in or real), moto behind the AWS-like proxy, and
seeded worker nodes. Tests act only through the Kubernetes API and AWS, never on the controller's
internals; this module also holds the shared ways of waiting for what the controller does (each
failure message carries the controller's log tail). Manifests and AWS reads are in ``e2e_objects``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from e2e_objects import (
    cluster_tagged_security_groups,
    labelled_node_sources,
    load_balancer_hostname,
    namespace_events,
)

from controller.aws.client import AwsClient
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.seed import SANDBOX_REGION
from framework.kube import INGRESSES, SERVICES, KubeApiError, KubeClient, Resource

T = TypeVar("T")

EVENTUALLY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningController:
    process: asyncio.subprocess.Process
    metrics_port: int
    health_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


StartController = Callable[..., contextlib.AbstractAsyncContextManager[RunningController]]
"""The ``start_controller`` fixture: ``async with start_controller("--flag=value") as running:``."""


@contextlib.asynccontextmanager
async def controller_process(
    *,
    kubeconfig: Path,
    aws_endpoint: str,
    cluster: SandboxCluster,
    log_dir: Path,
    extra_flags: tuple[str, ...] = (),
) -> AsyncIterator[RunningController]:
    """Start ``python -m controller``; on exit send SIGTERM and require a clean, timely exit."""
    metrics_port, health_port = free_port(), free_port()
    log_path = log_dir / "controller.log"
    environment = dict(os.environ)
    environment.update(
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=SANDBOX_REGION,
    )
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "controller",
            f"--cluster-name={cluster.vpc.cluster_name}",
            f"--kubeconfig={kubeconfig}",
            f"--aws-vpc-id={cluster.vpc.vpc_id}",
            f"--metrics-bind-addr=127.0.0.1:{metrics_port}",
            f"--health-probe-bind-addr=127.0.0.1:{health_port}",
            "--leader-election-namespace=kube-system",
            "--log-level=debug",
            *extra_flags,
            env=environment,
            stdout=log_file,
            stderr=log_file,
        )
    running = RunningController(process, metrics_port, health_port, log_path)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(40):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
                raise AssertionError(
                    f"controller did not stop on SIGTERM within 40 s:\n{running.log()[-4000:]}"
                ) from None


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, what: str, within: float = EVENTUALLY_TIMEOUT_S
) -> T:
    """Poll ``probe`` until it returns something other than None (or fail naming ``what``)."""
    last_error: BaseException | None = None
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    value = await probe()
                except AssertionError as error:  # a probe may assert to explain what it saw
                    last_error = error
                    value = None
                if value is not None:
                    return value
                await asyncio.sleep(0.25)
    except TimeoutError:
        detail = f": {last_error}" if last_error else ""
        raise AssertionError(f"timed out after {within:.0f}s waiting for {what}{detail}") from None


@contextlib.contextmanager
def controller_log_on_failure(running: RunningController) -> Iterator[None]:
    """A failed assertion inside also shows the tail of the controller's log."""
    try:
        yield
    except AssertionError as error:
        raise AssertionError(f"{error}\ncontroller log tail:\n{running.log()[-6000:]}") from None


async def wait_for(
    running: RunningController, probe: Callable[[], Awaitable[T | None]], what: str, within: float = 60.0
) -> T:
    """``eventually``, with the controller's log tail in the failure message."""
    with controller_log_on_failure(running):
        return await eventually(probe, what=what, within=within)


async def wait_for_load_balancer(
    running: RunningController, aws: AwsClient, kube: KubeClient, namespace: str, ingress: str
) -> dict[str, Any]:
    """The ALB whose DNS name the Ingress status reports."""

    async def published() -> dict[str, Any] | None:
        hostname = await load_balancer_hostname(kube, INGRESSES, namespace, ingress)
        if hostname is None:
            return None
        for balancer in (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]:
            if balancer["DNSName"].lower() == hostname:
                return dict(balancer)
        raise AssertionError(f"status names {hostname}, but no such load balancer exists")

    return await wait_for(running, published, f"the ALB of Ingress {namespace}/{ingress}", within=90)


async def wait_for_warning(
    running: RunningController, kube: KubeClient, namespace: str, ingress: str, reason: str, text: str
) -> dict[str, Any]:
    """A Warning event with ``reason`` on the Ingress whose note contains ``text``."""

    async def found() -> dict[str, Any] | None:
        for event in await namespace_events(kube, namespace):
            if event.get("reason") == reason and event["regarding"]["name"] == ingress:
                assert text in event.get("note", ""), f"{reason} event says {event.get('note')!r}"
                assert event["type"] == "Warning", event
                return event
        return None

    return await wait_for(running, found, f"a {reason} event on Ingress {ingress} mentioning {text!r}")


async def wait_for_service_hostname(
    running: RunningController, kube: KubeClient, namespace: str, name: str
) -> str:
    """The hostname the Service status publishes for its NLB."""

    async def probe() -> str | None:
        return await load_balancer_hostname(kube, SERVICES, namespace, name)

    return await wait_for(running, probe, f"the NLB hostname in the status of Service {name}", within=90)


async def delete_and_wait_gone(
    kube: KubeClient,
    resource: Resource,
    namespace: str,
    names: Iterable[str],
    *,
    what: str | None = None,
    within: float = 90,
) -> None:
    """Delete the objects and wait until their finalizers let them go (404 on every one)."""
    doomed = list(names)
    what = what or f"{resource.kind} objects {doomed} deleted (finalizers released)"
    for name in doomed:
        await kube.request("DELETE", resource.object_path(name, namespace))

    async def all_gone() -> bool | None:
        left = []
        for name in doomed:
            try:
                await kube.request("GET", resource.object_path(name, namespace))
                left.append(name)
            except KubeApiError as error:
                if error.status != 404:
                    raise
        assert not left, f"still present: {left}"
        return True

    await eventually(all_gone, what=what, within=within)


async def delete_ingresses_and_wait(
    running: RunningController, kube: KubeClient, namespace: str, *names: str
) -> None:
    """Delete the Ingresses and wait until their finalizers let them go."""
    with controller_log_on_failure(running):
        await delete_and_wait_gone(
            kube, INGRESSES, namespace, names, what=f"Ingresses {names} deleted (finalizers released)"
        )


async def wait_for_service_gone(
    running: RunningController, kube: KubeClient, namespace: str, name: str
) -> None:
    """The Service is gone: its finalizer was released after the clean-up."""

    async def probe() -> bool | None:
        try:
            service = await kube.get(SERVICES, name, namespace)
        except KubeApiError as error:
            return True if error.status == 404 else None
        finalizers = service["metadata"].get("finalizers") or []
        raise AssertionError(f"Service {name} still exists with finalizers {finalizers}")

    await wait_for(running, probe, f"Service {name} released by its finalizer", within=90)


async def wait_for_nothing_of_ours_left(
    running: RunningController,
    aws: AwsClient,
    cluster: SandboxCluster,
    *,
    what: str,
    count_cidr_sources: bool,
) -> None:
    """No load balancer, target group, SG of ours, or labelled node-SG rule is left in AWS.

    ``count_cidr_sources``: also count labelled CIDR-sourced node-SG rules (NLBs may open those).
    """

    async def probe() -> bool | None:
        balancers = (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        groups = (await aws.call("elbv2", "DescribeTargetGroups"))["TargetGroups"]
        ours = await cluster_tagged_security_groups(aws, cluster.vpc.cluster_name)
        labelled = await labelled_node_sources(aws, cluster, count_cidr_sources=count_cidr_sources)
        assert not (balancers or groups or ours or labelled), (
            f"left: LBs {len(balancers)}, TGs {len(groups)}, SGs {[g['GroupId'] for g in ours]}, rules {labelled}"
        )
        return True

    await wait_for(running, probe, what, within=120)
