"""Cold start of the whole controller process over a fleet of Ingresses and NLB Services, and after it.

The controller runs as ``make run`` runs it: ``python -m controller`` in its own process with flags,
a kubeconfig and an AWS endpoint, against the real kube-apiserver (``.cache/kube/bin``; or the
stand-in with ``--standin``) and moto behind the AWS-like proxy, which counts every call by
operation. Everything exists before the controller starts:

* ``--ingresses N`` (default 1,000) Ingresses, half instance targets (a NodePort Service each), half
  ip targets (a ClusterIP Service, a running Pod on a node's ENI, its EndpointSlice); the first
  fifth are in IngressGroups of 4 (``alb.ingress.kubernetes.io/group.name``);
* ``--services M`` (default 200) NLB Services (``aws-load-balancer-type: external``, instance targets);
* 3 worker nodes, each instance in its own node security group (3 endpoint SGs).

Phases (each reported in the one JSON object printed at the end):

1. ``replay``: the minimal mutating call set the model needs (derived from what was created, printed
   as ``minimal.derivation``) made straight against the same moto through the proxy, with the
   controller's own AWS client settings and as many concurrent load balancers as the controller has
   Ingress + Service workers, in a VPC of its own. Run first, so the controller later works against a
   moto already holding these resources (moto's filters are linear: this only slows the controller).
2. ``cold_start``: seconds until every Ingress and Service has its hostname and until the last
   mutating call (converged: the later of the two), AWS calls by operation against the minimal count,
   describes per LB, converged time / replay time; with ``--aws-rate`` the proxy enforces AWS's
   per-API buckets (``controller.aws.aws_limits``; for the replay too) and the converged time is
   compared with the lower bound those buckets put on the minimal call set (and with the bound of the
   client's share of them: the built-in 80%, or ``--client-share``), plus the throttling errors
   answered and those that surfaced as reconcile errors in the controller's log.
3. ``restart``: the controller restarted with ``--sync-period`` (``resync``): its start-up pass over
   the converged fleet, then one periodic resync (calls, seconds, mutating calls must be 0).
4. ``drift``: 10 things changed by hand in AWS, then the calls and seconds until all are repaired
   (by the next periodic resync).
5. ``changes``: one Ingress added, one inbound-cidrs changed, one NLB Service deleted.
6. ``memory``: the controller's RSS with 20,000 Pods, 2,000 Services and the Ingresses cached
   (``--skip-memory`` to leave it out).

A plot of load balancers converged over time (ours, the replay, the AWS-bucket bound) goes to
``--plot`` (default docs/img/cold_start.png).

Run: ``.venv/bin/python benchmarks/cold_start.py`` (the full fleet: about 45 min on a loaded 2-core
machine, most of it moto's; ``--skip-after`` leaves out phases 3-5); a quick run:
``--ingresses 50 --services 10 --skip-memory`` (about 5 min).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from prometheus_client import CollectorRegistry

from controller.annotations import (
    ING_GROUP_NAME,
    ING_INBOUND_CIDRS,
    ING_SCHEME,
    ING_TARGET_TYPE,
    SVC_LOAD_BALANCER_TYPE,
    SVC_NLB_TARGET_TYPE,
    SVC_SCHEME,
)
from controller.aws.api import AwsApi
from controller.aws.aws_limits import AWS_API_LIMITS, CLIENT_SHARE_OF_AWS_LIMITS, aws_limit_for
from controller.aws.client import open_aws_client
from controller.aws.errors import AwsApiError
from controller.aws.settings import StaticCredentials
from controller.aws.throttle import ThrottleRule
from controller.config import parse_config
from controller.naming import cluster_tag_key
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.cluster import (
    SANDBOX_AMI,
    SandboxNode,
    apply_crds,
    create_alb_ingress_class,
    register_nodes,
)
from controller.sandbox.moto_server import MotoServer, free_port
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, SandboxVpc, seed_vpc
from controller.startup import aws_settings_from
from framework.kube import (
    ENDPOINT_SLICES,
    INGRESSES,
    MERGE_PATCH_CONTENT_TYPE,
    NAMESPACES,
    PODS,
    SERVICES,
    KubeApiError,
    KubeClient,
    Resource,
)
from framework.testing.controlplane import ControlPlaneBinaries, RealControlPlane

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE_COUNT = 10
GROUP_SIZE = 4
NODE_SG_COUNT = 3
KUBE_CONCURRENCY = 24
POLL_S = 1.0
DEFAULT_TAG = ("bench", "cold-start")
WORKERS = 3  # the controller's default --ingress/--service-max-concurrent-reconciles
NO_CLIENT_THROTTLE = "--aws-api-throttle=ec2:.*=100000:100000,elbv2:.*=100000:100000"
THROTTLE_CODES = ("Throttling", "RequestLimitExceeded", "ThrottlingException", "TooManyRequests")
_MUTATING = re.compile(r"^(Create|Delete|Authorize|Revoke|Modify|Register|Deregister|Set|Add|Remove)")


def progress(what: str, **details: Any) -> None:
    """One JSON line on stderr per finished phase (the result is the one object on stdout)."""
    print(json.dumps({"progress": what, **details}), file=sys.stderr, flush=True)


def is_mutating(operation: str) -> bool:
    return _MUTATING.match(operation) is not None


# ============================================================================== the fleet


@dataclass(frozen=True)
class IngressSpec:
    namespace: str
    name: str
    target_type: str  # instance | ip
    group: str | None


@dataclass(frozen=True)
class Fleet:
    ingresses: tuple[IngressSpec, ...]
    services: tuple[tuple[str, str], ...]  # (namespace, name) of the NLB Services

    @staticmethod
    def plan(ingress_count: int, service_count: int) -> Fleet:
        grouped = (ingress_count // 5) // GROUP_SIZE * GROUP_SIZE
        ingresses = tuple(
            IngressSpec(
                namespace=f"cold-{i % NAMESPACE_COUNT}" if i >= grouped else "cold-0",
                name=f"ing-{i}",
                target_type="instance" if i % 2 == 0 else "ip",
                group=f"grp-{i // GROUP_SIZE}" if i < grouped else None,
            )
            for i in range(ingress_count)
        )
        services = tuple((f"cold-{j % NAMESPACE_COUNT}", f"nlb-{j}") for j in range(service_count))
        return Fleet(ingresses, services)

    def albs(self) -> list[list[IngressSpec]]:
        """The Ingresses of each ALB (a group shares one)."""
        by_lb: dict[str, list[IngressSpec]] = {}
        for spec in self.ingresses:
            by_lb.setdefault(spec.group or f"{spec.namespace}/{spec.name}", []).append(spec)
        return list(by_lb.values())

    @property
    def load_balancers(self) -> int:
        return len(self.albs()) + len(self.services)


# ============================================================================== minimal calls


@dataclass(frozen=True)
class MinimalCalls:
    """The mutating calls AWS cannot do without for the fleet, and where each count comes from."""

    by_operation: dict[str, int]
    derivation: list[str]

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


def minimal_calls(fleet: Fleet) -> MinimalCalls:
    albs = fleet.albs()
    alb_count, nlb_count, backends = len(albs), len(fleet.services), len(fleet.ingresses)
    lbs = alb_count + nlb_count
    target_groups = backends + nlb_count
    by_operation = {
        "CreateLoadBalancer": lbs,
        "CreateListener": lbs,
        "CreateRule": backends,
        "CreateTargetGroup": target_groups,
        "RegisterTargets": target_groups,
        "CreateSecurityGroup": lbs + 1,
        "AuthorizeSecurityGroupIngress": lbs + NODE_SG_COUNT,
    }
    derivation = [
        f"{alb_count} ALBs ({len(fleet.ingresses)} Ingresses, groups of {GROUP_SIZE} share one) + "
        f"{nlb_count} NLBs = {lbs} load balancers",
        f"CreateLoadBalancer: 1 per LB = {lbs} (tags, subnets and both SGs given at creation)",
        f"CreateListener: 1 per LB (ALB HTTP:80, NLB TCP:80) = {lbs} (default action and tags at creation)",
        f"CreateRule: 1 per Ingress path (each has one: / Prefix) = {backends}",
        f"CreateTargetGroup: 1 per Ingress backend + 1 per NLB = {backends} + {nlb_count} = {target_groups}",
        f"RegisterTargets: 1 per target group (all its targets in one call) = {target_groups}",
        f"CreateSecurityGroup: 1 managed SG per LB + 1 shared backend SG = {lbs + 1} (tags at creation)",
        f"AuthorizeSecurityGroupIngress: 1 per managed SG (its listener ports, one call) + 1 per endpoint "
        f"SG ({NODE_SG_COUNT} node SGs: every NodePort and pod port from the backend SG, one call) "
        f"= {lbs + NODE_SG_COUNT}",
        "not needed: AddTags, SetSecurityGroups, Modify*, Revoke*, Delete*, Deregister* "
        "(nothing exists yet; defaults need no attribute change)",
    ]
    return MinimalCalls(by_operation, derivation)


def bucket_bound(minimal: MinimalCalls, share: float = 1.0) -> dict[str, Any]:
    """The least time AWS's per-API buckets allow for the minimal call set: per operation, the calls
    beyond the burst at the refill rate; the slowest operation bounds the whole."""
    per_operation: dict[str, float] = {}
    for operation, count in minimal.by_operation.items():
        service = "ec2" if "SecurityGroup" in operation else "elbv2"
        limit = aws_limit_for(service, operation)
        if limit is None:
            continue
        rate, burst = (
            (limit.rate * share, math.floor(limit.burst * share))
            if share != 1.0
            else (limit.rate, limit.burst)
        )
        per_operation[operation] = max(0.0, (count - burst) / rate)
    slowest = max(per_operation, key=per_operation.__getitem__)
    return {
        "seconds": round(per_operation[slowest], 1),
        "bottleneck": slowest,
        "per_operation_seconds": {op: round(s, 1) for op, s in sorted(per_operation.items())},
    }


def bound_curve(minimal: MinimalCalls, load_balancers: int, horizon: float) -> list[tuple[float, float]]:
    """LBs that could have converged by t under the buckets: the scarcest operation's share done."""
    points = []
    steps = 100
    for step in range(steps + 1):
        t = horizon * step / steps
        fraction = 1.0
        for operation, count in minimal.by_operation.items():
            service = "ec2" if "SecurityGroup" in operation else "elbv2"
            limit = aws_limit_for(service, operation)
            if limit is not None and count:
                fraction = min(fraction, (limit.burst + limit.rate * t) / count)
        points.append((t, load_balancers * min(1.0, fraction)))
    return points


# ============================================================================== world: API server, AWS


@contextlib.contextmanager
def api_server(standin: bool, work_dir: Path) -> Iterator[tuple[Path, str]]:
    """(admin kubeconfig, kind): the real kube-apiserver, or the stand-in in its own process."""
    if not standin:
        # A /16 service range: the default /24 holds 254 ClusterIPs, the fleet needs thousands.
        with RealControlPlane(
            ControlPlaneBinaries.locate(),
            extra_apiserver_args=["--service-cluster-ip-range=10.0.0.0/16", "--max-requests-inflight=800"],
        ) as plane:
            yield plane.kubeconfig_path, "real"
        return
    kubeconfig = work_dir / "standin.kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "framework.testing.apiserver",
            "--port",
            str(free_port()),
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stand-in API server did not start")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written before the server accepts: give it a moment
        yield kubeconfig, "standin"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def kube_client(kubeconfig: Path) -> KubeClient:
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = 64
    return KubeClient.from_configuration(configuration)


@dataclass(frozen=True)
class World:
    vpc: SandboxVpc
    node_sgs: tuple[str, ...]
    nodes: tuple[SandboxNode, ...]
    eni_by_node: dict[str, str]


async def seed_world(aws: AwsApi, kube: KubeClient) -> World:
    """A VPC with 3 subnets and one worker node per subnet, each node in its own cluster-tagged SG."""
    vpc = await seed_vpc(aws, cluster_name=SANDBOX_CLUSTER, zones=("a", "b", "c"))
    subnets = await aws.call("ec2", "DescribeSubnets", SubnetIds=list(vpc.subnet_ids))
    zone_by_subnet = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets["Subnets"]}
    node_sgs: list[str] = []
    nodes: list[SandboxNode] = []
    enis: dict[str, str] = {}
    for index, subnet_id in enumerate(vpc.subnet_ids[:NODE_SG_COUNT]):
        name = f"{vpc.cluster_name}-nodes-{index}"
        created = await aws.call(
            "ec2",
            "CreateSecurityGroup",
            GroupName=name,
            Description="sandbox worker nodes",
            VpcId=vpc.vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [
                        {"Key": cluster_tag_key(vpc.cluster_name), "Value": "owned"},
                        {"Key": "Name", "Value": name},
                    ],
                }
            ],
        )
        node_sgs.append(str(created["GroupId"]))
        reservation = await aws.call(
            "ec2",
            "RunInstances",
            ImageId=SANDBOX_AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType="m5.large",
            SubnetId=subnet_id,
            SecurityGroupIds=[node_sgs[-1]],
        )
        instance = reservation["Instances"][0]
        node = SandboxNode(
            name=f"node-{index}",
            instance_id=str(instance["InstanceId"]),
            private_ip=str(instance["PrivateIpAddress"]),
            availability_zone=zone_by_subnet[subnet_id],
        )
        nodes.append(node)
        enis[node.name] = str(instance["NetworkInterfaces"][0]["NetworkInterfaceId"])
    await apply_crds(kube)
    await create_alb_ingress_class(kube)
    await register_nodes(kube, tuple(nodes))
    return World(vpc, tuple(node_sgs), tuple(nodes), enis)


async def pod_addresses(aws: AwsApi, world: World, count: int) -> list[tuple[str, str]]:
    """(node name, IP) for ``count`` pods: secondary IPs on the nodes' ENIs, as the VPC CNI assigns."""
    per_node = math.ceil(count / len(world.nodes)) if count else 0
    addresses: list[tuple[str, str]] = []
    if not per_node:
        return addresses
    for node in world.nodes:
        assigned = await aws.call(
            "ec2",
            "AssignPrivateIpAddresses",
            NetworkInterfaceId=world.eni_by_node[node.name],
            SecondaryPrivateIpAddressCount=per_node,
        )
        addresses.extend((node.name, a["PrivateIpAddress"]) for a in assigned["AssignedPrivateIpAddresses"])
    # Round-robin over the nodes, so every node SG gets ip targets.
    ordered = [addresses[n * per_node + i] for i in range(per_node) for n in range(len(world.nodes))]
    return ordered[:count]


def ingress_manifest(spec: IngressSpec, service: str) -> dict[str, Any]:
    annotations = {ING_SCHEME: "internet-facing", ING_TARGET_TYPE: spec.target_type}
    if spec.group:
        annotations[ING_GROUP_NAME] = spec.group
    path = "/" if spec.group is None else f"/{spec.name}"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": spec.name, "annotations": annotations},
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


def service_manifest(
    name: str, service_type: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "type": service_type,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def nlb_manifest(name: str) -> dict[str, Any]:
    return service_manifest(
        name,
        "LoadBalancer",
        {SVC_LOAD_BALANCER_TYPE: "external", SVC_NLB_TARGET_TYPE: "instance", SVC_SCHEME: "internet-facing"},
    )


def pod_manifest(name: str, app: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "app", "ports": [{"containerPort": 8080}]}],
        },
    }


def endpoint_slice_manifest(service: str, pod: str, namespace: str, pod_ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-slice", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [pod_ip],
                "conditions": {"ready": True},
                "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace},
            }
        ],
    }


async def running_pod(kube: KubeClient, namespace: str, name: str, app: str, node: str, ip: str) -> None:
    pod = await kube.create(PODS, pod_manifest(name, app, node), namespace)
    pod["status"] = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    await kube.request("PUT", PODS.object_path(name, namespace) + "/status", body=pod)


async def bounded(concurrency: int, jobs: Iterable[Callable[[], Awaitable[object]]]) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            for attempt in range(5):
                try:
                    await job()
                    return
                except KubeApiError as error:
                    if (
                        error.status == 409
                        or attempt == 4
                        or not (error.status == 429 or error.status >= 500)
                    ):
                        if error.status == 409:
                            return
                        raise
                    await asyncio.sleep(0.5 * (attempt + 1))

    await asyncio.gather(*(one(job) for job in jobs))


async def create_fleet(kube: KubeClient, aws: AwsApi, world: World, fleet: Fleet) -> None:
    for n in range(NAMESPACE_COUNT):
        with contextlib.suppress(KubeApiError):
            await kube.create(
                NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"cold-{n}"}}
            )
    ip_specs = [s for s in fleet.ingresses if s.target_type == "ip"]
    addresses = await pod_addresses(aws, world, len(ip_specs))
    ip_of = {spec.name: addresses[i] for i, spec in enumerate(ip_specs)}
    jobs: list[Callable[[], Awaitable[object]]] = []
    for spec in fleet.ingresses:
        jobs.append(lambda spec=spec: create_backend(kube, spec, ip_of.get(spec.name)))  # type: ignore[misc]
    for namespace, name in fleet.services:
        jobs.append(lambda ns=namespace, n=name: kube.create(SERVICES, nlb_manifest(n), ns))  # type: ignore[misc]
    await bounded(KUBE_CONCURRENCY, jobs)


async def create_backend(kube: KubeClient, spec: IngressSpec, address: tuple[str, str] | None) -> None:
    service = f"svc-{spec.name}"
    if spec.target_type == "instance":
        await kube.create(SERVICES, service_manifest(service, "NodePort"), spec.namespace)
    else:
        assert address is not None
        node, ip = address
        await kube.create(SERVICES, service_manifest(service, "ClusterIP"), spec.namespace)
        pod = f"pod-{spec.name}"
        await running_pod(kube, spec.namespace, pod, service, node, ip)
        await kube.create(
            ENDPOINT_SLICES, endpoint_slice_manifest(service, pod, spec.namespace, ip), spec.namespace
        )
    await kube.create(INGRESSES, ingress_manifest(spec, service), spec.namespace)


# ============================================================================== the controller process


@dataclass
class Controller:
    process: asyncio.subprocess.Process
    log_path: Path
    metrics_port: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")


def client_throttle_flags(aws_rate: bool, client_share: float | None) -> list[str]:
    """No client-side buckets without ``--aws-rate``; with it, the defaults (80% of AWS's buckets)
    or, with ``--client-share``, each of AWS's buckets at that share."""
    if not aws_rate:
        # Nothing to share AWS's buckets with and the proxy enforces none: no client-side buckets,
        # as for the replay, so the two times compare the work done, not the pacing.
        return [NO_CLIENT_THROTTLE]
    if client_share is None:
        return []
    rules = []
    for limit in AWS_API_LIMITS:
        rate, burst = limit.share(client_share)
        rules.append(ThrottleRule(limit.service, limit.pattern, rate=rate, burst=burst).render())
    return [f"--aws-api-throttle={','.join(rules)}"]


def controller_flags(
    world: World, kubeconfig: Path, throttle: Iterable[str], extra: Iterable[str] = ()
) -> list[str]:
    flags = [
        f"--cluster-name={world.vpc.cluster_name}",
        f"--kubeconfig={kubeconfig}",
        f"--aws-region={SANDBOX_REGION}",
        f"--aws-vpc-id={world.vpc.vpc_id}",
        "--leader-election-namespace=kube-system",
        f"--default-tags={DEFAULT_TAG[0]}={DEFAULT_TAG[1]}",
    ]
    return [*flags, *throttle, *extra]


def controller_flags_for_client(throttle: Iterable[str]) -> list[str]:
    """The flags that decide the controller's AWS client settings (for the replay's client)."""
    return ["--cluster-name=replay", f"--aws-region={SANDBOX_REGION}", *throttle]


@contextlib.asynccontextmanager
async def controller_process(flags: list[str], endpoint: str, log_path: Path) -> AsyncIterator[Controller]:
    metrics_port, health_port = free_port(), free_port()
    environment = dict(os.environ)
    environment.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=SANDBOX_REGION,
    )
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "controller",
            *flags,
            f"--metrics-bind-addr=127.0.0.1:{metrics_port}",
            f"--health-probe-bind-addr=127.0.0.1:{health_port}",
            env=environment,
            stdout=log_file,
            stderr=log_file,
        )
    running = Controller(process, log_path, metrics_port)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(60):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def surfaced_errors(log: str) -> dict[str, int]:
    lines = [line for line in log.splitlines() if "Reconciler error" in line]
    throttled = [line for line in lines if any(code in line for code in THROTTLE_CODES)]
    return {"reconcile_errors": len(lines), "throttling_reconcile_errors": len(throttled)}


# ============================================================================== observing


async def hostnames(
    kube: KubeClient, resource: Resource, names: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    listed = await kube.list(resource, request_timeout=60)
    found: dict[tuple[str, str], str] = {}
    for item in listed.get("items", []):
        key = (item["metadata"]["namespace"], item["metadata"]["name"])
        entries = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if key in names and entries and entries[0].get("hostname"):
            found[key] = entries[0]["hostname"]
    return found


async def wait_converged(
    kube: KubeClient, fleet: Fleet, started: float, limit: float, controller: Controller
) -> tuple[float, list[tuple[float, int]], dict[tuple[str, str], str]]:
    """Seconds until every object has its hostname, and (t, LBs converged) along the way."""
    ingress_keys = {(s.namespace, s.name) for s in fleet.ingresses}
    service_keys = set(fleet.services)
    timeline: list[tuple[float, int]] = [(0.0, 0)]
    while True:
        ingress_hosts = await hostnames(kube, INGRESSES, ingress_keys)
        service_hosts = await hostnames(kube, SERVICES, service_keys)
        now = time.monotonic() - started
        # An ALB counts once every Ingress of it has the hostname.
        lbs = sum(all((s.namespace, s.name) in ingress_hosts for s in alb) for alb in fleet.albs())
        timeline.append((round(now, 2), lbs + len(service_hosts)))
        if len(ingress_hosts) == len(ingress_keys) and len(service_hosts) == len(service_keys):
            return now, timeline, {**ingress_hosts, **service_hosts}
        if controller.process.returncode is not None:
            raise RuntimeError(f"the controller exited:\n{controller.log()[-3000:]}")
        if now > limit:
            raise RuntimeError(
                f"not converged within {limit:.0f}s: {len(ingress_hosts)}/{len(ingress_keys)} Ingresses, "
                f"{len(service_hosts)}/{len(service_keys)} Services\n{controller.log()[-3000:]}"
            )
        await asyncio.sleep(POLL_S)


async def settle(
    proxy: AwsProxy, quiet: float, cap: float, *, mutating_only: bool = False, first_call: bool = False
) -> float:
    """Wait until the proxy has seen no (mutating) call for ``quiet`` seconds; the monotonic time of
    the last call (or of the start, if none came)."""

    def count() -> int:
        calls = proxy.calls_by_operation()
        return sum(n for op, n in calls.items() if is_mutating(op) or not mutating_only)

    start = time.monotonic()
    last, last_change = count(), start
    while first_call and last == 0 and time.monotonic() - start < cap:
        await asyncio.sleep(0.25)  # a starting process may take a while before its first call
        last, last_change = count(), time.monotonic()
    while time.monotonic() - last_change < quiet and time.monotonic() - start < cap:
        await asyncio.sleep(0.25)
        current = count()
        if current != last:
            last, last_change = current, time.monotonic()
    return last_change


def call_report(proxy: AwsProxy) -> dict[str, Any]:
    calls = proxy.calls_by_operation()
    mutating = {op: n for op, n in calls.items() if is_mutating(op)}
    return {
        "calls": sum(calls.values()),
        "mutating_calls": sum(mutating.values()),
        "describe_calls": sum(n for op, n in calls.items() if not is_mutating(op)),
        "by_operation": dict(sorted(calls.items())),
    }


def dump_requests(proxy: AwsProxy, path: Path) -> None:
    """The proxy's request log of one phase, one JSON line per call, for finding out why."""
    with path.open("w") as out:
        for record in proxy.request_log:
            out.write(json.dumps(dataclasses.asdict(record)) + "\n")


def errors_answered(proxy: AwsProxy) -> dict[str, Any]:
    server_errors = Counter(r.operation for r in proxy.request_log if r.status >= 500)
    rejected = Counter(
        f"{r.operation}:{r.outcome}" for r in proxy.request_log if r.outcome not in ("forwarded",)
    )
    return {
        "throttled_by_operation": dict(proxy.throttled_by_operation()),
        "moto_5xx_by_operation": dict(server_errors),
        "non_forwarded": dict(rejected),
    }


# ============================================================================== replay


async def replay(aws: AwsApi, fleet: Fleet, concurrency: int) -> dict[str, Any]:
    """The minimal mutating call set, one LB's calls in order, ``concurrency`` LBs at a time, into a
    VPC of its own with 3 instances of its own (moto is reset afterwards)."""
    vpc = await seed_vpc(aws, cluster_name="replay", cidr="10.1.0.0/16", zones=("a", "b", "c"))
    instances = []
    for subnet_id in vpc.subnet_ids:
        reservation = await aws.call(
            "ec2",
            "RunInstances",
            ImageId=SANDBOX_AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType="m5.large",
            SubnetId=subnet_id,
        )
        instances.append(reservation["Instances"][0])
    pod_ips = [str(instance["PrivateIpAddress"]) for instance in instances]
    calls: Counter[str] = Counter()
    done: list[float] = []
    started = time.monotonic()

    server_errors: Counter[str] = Counter()

    async def call(operation: str, service: str, **params: Any) -> dict[str, Any]:
        calls[operation] += 1
        for attempt in range(6):
            try:
                return await aws.call(service, operation, **params)  # type: ignore[arg-type]
            except AwsApiError as error:
                # moto's ELBv2 backend is not thread-safe: concurrent creates now and then answer
                # an HTML 500 page. Retried here (counted apart, as the controller's retries are).
                if (
                    "ResponseParserError" not in error.code and (error.status_code or 0) < 500
                ) or attempt == 5:
                    if attempt and error.code.startswith(("Duplicate", "InvalidGroup.Duplicate")):
                        return await created_anyway(service, operation, params)
                    raise
                server_errors[operation] += 1
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def created_anyway(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """The answer the create would have given: its 500 hid a success."""
        if operation == "CreateSecurityGroup":
            found = await aws.call(
                "ec2",
                "DescribeSecurityGroups",
                Filters=[{"Name": "group-name", "Values": [params["GroupName"]]}],
            )
            return {"GroupId": found["SecurityGroups"][0]["GroupId"]}
        if operation == "CreateLoadBalancer":
            return await aws.call("elbv2", "DescribeLoadBalancers", Names=[params["Name"]])
        if operation == "CreateTargetGroup":
            return await aws.call("elbv2", "DescribeTargetGroups", Names=[params["Name"]])
        raise AssertionError(f"{operation} reported a duplicate")

    backend = (
        await call(
            "CreateSecurityGroup", "ec2", GroupName="replay-backend", Description="b", VpcId=vpc.vpc_id
        )
    )["GroupId"]
    instance_targets = [{"Id": instance["InstanceId"], "Port": 30080} for instance in instances]

    async def one_lb(index: int, kind: str, target_types: list[str]) -> None:
        sg = (
            await call(
                "CreateSecurityGroup", "ec2", GroupName=f"replay-{index}", Description="m", VpcId=vpc.vpc_id
            )
        )["GroupId"]
        await call(
            "AuthorizeSecurityGroupIngress",
            "ec2",
            GroupId=sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        lb = (
            await call(
                "CreateLoadBalancer",
                "elbv2",
                Name=f"replay-{index}",
                Type="application" if kind == "alb" else "network",
                Subnets=list(vpc.subnet_ids),
                SecurityGroups=[sg, backend],
                Scheme="internet-facing",
            )
        )["LoadBalancers"][0]["LoadBalancerArn"]
        groups = []
        for n, target_type in enumerate(target_types):
            protocol = "HTTP" if kind == "alb" else "TCP"
            tg = (
                await call(
                    "CreateTargetGroup",
                    "elbv2",
                    Name=f"replay-{index}-{n}",
                    Protocol=protocol,
                    Port=8080 if target_type == "ip" else 30080,
                    VpcId=vpc.vpc_id,
                    TargetType=target_type,
                )
            )["TargetGroups"][0]["TargetGroupArn"]
            groups.append(tg)
            targets = (
                [{"Id": pod_ips[index % len(pod_ips)], "Port": 8080}]
                if target_type == "ip"
                else instance_targets
            )
            await call("RegisterTargets", "elbv2", TargetGroupArn=tg, Targets=targets)
        if kind == "alb":
            listener = (
                await call(
                    "CreateListener",
                    "elbv2",
                    LoadBalancerArn=lb,
                    Protocol="HTTP",
                    Port=80,
                    DefaultActions=[
                        {
                            "Type": "fixed-response",
                            "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
                        }
                    ],
                )
            )["Listeners"][0]["ListenerArn"]
            for n, tg in enumerate(groups):
                await call(
                    "CreateRule",
                    "elbv2",
                    ListenerArn=listener,
                    Priority=n + 1,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/{n}/*"]}}],
                    Actions=[{"Type": "forward", "TargetGroupArn": tg}],
                )
        else:
            await call(
                "CreateListener",
                "elbv2",
                LoadBalancerArn=lb,
                Protocol="TCP",
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}],
            )
        done.append(time.monotonic() - started)

    plans = [("alb", [s.target_type for s in alb]) for alb in fleet.albs()] + [("nlb", ["instance"])] * len(
        fleet.services
    )
    queue: asyncio.Queue[tuple[int, str, list[str]]] = asyncio.Queue()
    for index, (kind, types) in enumerate(plans):
        queue.put_nowait((index, kind, types))

    async def worker() -> None:
        while not queue.empty():
            await one_lb(*queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    for node_sg in range(NODE_SG_COUNT):
        sg = (
            await call(
                "CreateSecurityGroup",
                "ec2",
                GroupName=f"replay-node-{node_sg}",
                Description="n",
                VpcId=vpc.vpc_id,
            )
        )["GroupId"]
        calls["CreateSecurityGroup"] -= 1  # stands in for the seeded node SG, not a call of the model
        await call(
            "AuthorizeSecurityGroupIngress",
            "ec2",
            GroupId=sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 30000,
                    "ToPort": 32767,
                    "UserIdGroupPairs": [{"GroupId": backend}],
                }
            ],
        )
    seconds = time.monotonic() - started
    return {
        "seconds": round(seconds, 1),
        "calls": dict(sorted(calls.items())),
        "moto_500s_retried": dict(server_errors),
        "lb_done_at": sorted(done),
    }


# ============================================================================== drift


@dataclass
class Drift:
    what: str
    plant: Callable[[], Awaitable[object]]
    observe: Callable[[], Awaitable[object]]
    expected: object = None


def load_balancer_name(hostname: str) -> str:
    return hostname.split(".")[0].rsplit("-", 1)[0]


async def describe_lb(aws: AwsApi, hostname: str) -> dict[str, Any]:
    answer = await aws.call("elbv2", "DescribeLoadBalancers", Names=[load_balancer_name(hostname)])
    return dict(answer["LoadBalancers"][0])


def permissions(group: dict[str, Any]) -> list[tuple[Any, ...]]:
    found = []
    for p in group.get("IpPermissions", []):
        for pair in p.get("UserIdGroupPairs", []):
            found.append((p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"), pair["GroupId"]))
        for cidr in p.get("IpRanges", []):
            found.append((p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"), cidr["CidrIp"]))
    return sorted(found)


async def group(aws: AwsApi, group_id: str) -> dict[str, Any]:
    return dict((await aws.call("ec2", "DescribeSecurityGroups", GroupIds=[group_id]))["SecurityGroups"][0])


async def plan_drift(
    aws: AwsApi, world: World, fleet: Fleet, hosts: dict[tuple[str, str], str]
) -> list[Drift]:
    """Ten changes by hand, each on a different object, with a probe whose value must come back."""
    singles = [alb[0] for alb in fleet.albs() if len(alb) == 1]
    albs = [await describe_lb(aws, hosts[(s.namespace, s.name)]) for s in singles[:5]]
    nlbs = [await describe_lb(aws, hosts[key]) for key in fleet.services[:2]]
    backend_sg = next(iter(set(albs[0]["SecurityGroups"]) & set(albs[1]["SecurityGroups"])))

    def managed_sg(lb: dict[str, Any]) -> str:
        return next(sg for sg in lb["SecurityGroups"] if sg != backend_sg)

    async def node_rules(sg: str) -> list[tuple[Any, ...]]:
        return permissions(await group(aws, sg))

    async def revoke_all(sg: str) -> None:
        current = await group(aws, sg)
        await aws.call(
            "ec2", "RevokeSecurityGroupIngress", GroupId=sg, IpPermissions=current["IpPermissions"]
        )

    async def listeners(lb: dict[str, Any]) -> list[int]:
        found = await aws.call("elbv2", "DescribeListeners", LoadBalancerArn=lb["LoadBalancerArn"])
        return sorted(listener["Port"] for listener in found["Listeners"])

    async def delete_listener(lb: dict[str, Any]) -> None:
        found = await aws.call("elbv2", "DescribeListeners", LoadBalancerArn=lb["LoadBalancerArn"])
        await aws.call("elbv2", "DeleteListener", ListenerArn=found["Listeners"][0]["ListenerArn"])

    async def rules(lb: dict[str, Any]) -> int:
        found = await aws.call("elbv2", "DescribeListeners", LoadBalancerArn=lb["LoadBalancerArn"])
        described = await aws.call("elbv2", "DescribeRules", ListenerArn=found["Listeners"][0]["ListenerArn"])
        return len(described["Rules"])

    async def delete_rule(lb: dict[str, Any]) -> None:
        found = await aws.call("elbv2", "DescribeListeners", LoadBalancerArn=lb["LoadBalancerArn"])
        described = await aws.call("elbv2", "DescribeRules", ListenerArn=found["Listeners"][0]["ListenerArn"])
        rule = next(r for r in described["Rules"] if not r["IsDefault"])
        await aws.call("elbv2", "DeleteRule", RuleArn=rule["RuleArn"])

    async def lb_groups(lb: dict[str, Any]) -> list[str]:
        return sorted((await describe_lb_by_arn(aws, lb["LoadBalancerArn"]))["SecurityGroups"])

    async def lb_tag(lb: dict[str, Any]) -> str | None:
        described = await aws.call("elbv2", "DescribeTags", ResourceArns=[lb["LoadBalancerArn"]])
        tags = {t["Key"]: t["Value"] for t in described["TagDescriptions"][0]["Tags"]}
        return tags.get(DEFAULT_TAG[0])

    async def sg_tag(sg: str) -> str | None:
        tags = {t["Key"]: t["Value"] for t in (await group(aws, sg)).get("Tags", [])}
        return tags.get(DEFAULT_TAG[0])

    a0, a1, a2, a3, a4 = albs
    n0, n1 = nlbs
    drifts = [
        Drift(
            f"node SG {world.node_sgs[0]}: every rule revoked",
            lambda: revoke_all(world.node_sgs[0]),
            lambda: node_rules(world.node_sgs[0]),
        ),
        Drift(
            f"node SG {world.node_sgs[1]}: every rule revoked",
            lambda: revoke_all(world.node_sgs[1]),
            lambda: node_rules(world.node_sgs[1]),
        ),
        Drift(
            "ALB managed SG: its rule revoked",
            lambda: revoke_all(managed_sg(a0)),
            lambda: node_rules(managed_sg(a0)),
        ),
        Drift(
            "NLB managed SG: its rule revoked",
            lambda: revoke_all(managed_sg(n0)),
            lambda: node_rules(managed_sg(n0)),
        ),
        Drift("ALB listener deleted", lambda: delete_listener(a1), lambda: listeners(a1)),
        Drift("NLB listener deleted", lambda: delete_listener(n1), lambda: listeners(n1)),
        Drift("ALB listener rule deleted", lambda: delete_rule(a2), lambda: rules(a2)),
        Drift(
            "ALB: backend SG detached",
            lambda: aws.call(
                "elbv2",
                "SetSecurityGroups",
                LoadBalancerArn=a3["LoadBalancerArn"],
                SecurityGroups=[managed_sg(a3)],
            ),
            lambda: lb_groups(a3),
        ),
        Drift(
            f"ALB: tag {DEFAULT_TAG[0]} deleted",
            lambda: aws.call(
                "elbv2", "RemoveTags", ResourceArns=[a4["LoadBalancerArn"]], TagKeys=[DEFAULT_TAG[0]]
            ),
            lambda: lb_tag(a4),
        ),
        Drift(
            f"managed SG: tag {DEFAULT_TAG[0]} deleted",
            lambda: aws.call("ec2", "DeleteTags", Resources=[managed_sg(a4)], Tags=[{"Key": DEFAULT_TAG[0]}]),
            lambda: sg_tag(managed_sg(a4)),
        ),
    ]
    for drift in drifts:
        drift.expected = await drift.observe()
    return drifts


async def describe_lb_by_arn(aws: AwsApi, arn: str) -> dict[str, Any]:
    return dict(
        (await aws.call("elbv2", "DescribeLoadBalancers", LoadBalancerArns=[arn]))["LoadBalancers"][0]
    )


async def unrepaired(drifts: list[Drift]) -> list[str]:
    return [d.what for d in drifts if await d.observe() != d.expected]


# ============================================================================== phases


class ResyncWatch:
    """Counts the controller's "Periodic resync of" log lines (two per tick: Ingresses, Services)."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    def ticks(self) -> int:
        return self._controller.log().count("Periodic resync of") // 2

    async def next_tick(self, after: int, within: float) -> float:
        deadline = time.monotonic() + within
        while self.ticks() <= after:
            if time.monotonic() > deadline:
                raise RuntimeError("no periodic resync came")
            await asyncio.sleep(0.2)
        return time.monotonic()


async def measure_change(
    proxy: AwsProxy,
    name: str,
    act: Callable[[], Awaitable[None]],
    done: Callable[[], Awaitable[bool]],
    watch: ResyncWatch,
    sync_period: float,
) -> dict[str, Any]:
    # Right after a periodic resync has settled, so the change has most of a period to itself.
    await watch.next_tick(watch.ticks(), within=sync_period * 3)
    await settle(proxy, quiet=3.0, cap=sync_period)
    ticks = watch.ticks()
    proxy.reset_counts()
    started = time.monotonic()
    await act()
    while not await done():  # noqa: ASYNC110 - polled: the outcome is only observable by reading
        await asyncio.sleep(0.2)
    visible = time.monotonic() - started
    last = await settle(proxy, quiet=3.0, cap=60.0)
    report = call_report(proxy)
    return {
        "change": name,
        "seconds_until_visible": round(visible, 2),
        "seconds_until_last_call": round(max(last - started, 0.0), 2),
        **report,
        "overlapped_a_periodic_resync": watch.ticks() != ticks,
    }


async def single_changes(
    kube: KubeClient,
    aws: AwsApi,
    proxy: AwsProxy,
    fleet: Fleet,
    hosts: dict[tuple[str, str], str],
    watch: ResyncWatch,
    sync_period: float,
) -> list[dict[str, Any]]:
    results = []
    added = IngressSpec("cold-1", "ing-added", "instance", None)

    async def add() -> None:
        await kube.create(SERVICES, service_manifest("svc-ing-added", "NodePort"), added.namespace)
        await kube.create(INGRESSES, ingress_manifest(added, "svc-ing-added"), added.namespace)

    async def added_visible() -> bool:
        return bool(await hostnames(kube, INGRESSES, {(added.namespace, added.name)}))

    results.append(await measure_change(proxy, "add an Ingress", add, added_visible, watch, sync_period))

    target = next(alb[0] for alb in fleet.albs() if len(alb) == 1)
    lb = await describe_lb(aws, hosts[(target.namespace, target.name)])
    backend = None

    async def change_cidrs() -> None:
        await kube.request(
            "PATCH",
            INGRESSES.object_path(target.name, target.namespace),
            body={"metadata": {"annotations": {ING_INBOUND_CIDRS: "10.9.0.0/16"}}},
            content_type=MERGE_PATCH_CONTENT_TYPE,
        )

    async def cidrs_visible() -> bool:
        for sg in lb["SecurityGroups"]:
            if any(rule[3] == "10.9.0.0/16" for rule in permissions(await group(aws, sg))):
                return True
        return False

    del backend
    results.append(
        await measure_change(
            proxy, "change one inbound-cidrs", change_cidrs, cidrs_visible, watch, sync_period
        )
    )

    namespace, name = fleet.services[-1]

    async def delete() -> None:
        await kube.request("DELETE", SERVICES.object_path(name, namespace))

    async def gone() -> bool:
        try:
            await kube.get(SERVICES, name, namespace)
        except KubeApiError as error:
            return error.status == 404
        return False

    results.append(await measure_change(proxy, "delete one NLB Service", delete, gone, watch, sync_period))
    return results


async def fill_caches(kube: KubeClient, pods: int, services: int) -> float:
    """Plain Pods and headless Services no load balancer refers to, to size the caches."""
    started = time.monotonic()
    jobs: list[Callable[[], Awaitable[object]]] = []
    for p in range(pods):
        jobs.append(
            lambda p=p: kube.create(
                PODS,
                pod_manifest(f"filler-{p}", f"filler-{p % 100}", "node-0"),
                f"cold-{p % NAMESPACE_COUNT}",
            )
        )  # type: ignore[misc]
    for s in range(services):
        manifest = service_manifest(f"filler-{s}", "ClusterIP")
        manifest["spec"]["clusterIP"] = "None"
        jobs.append(lambda m=manifest, s=s: kube.create(SERVICES, m, f"cold-{s % NAMESPACE_COUNT}"))  # type: ignore[misc]
    await bounded(KUBE_CONCURRENCY, jobs)
    return time.monotonic() - started


async def count_objects(kube: KubeClient) -> dict[str, int]:
    counts = {}
    for resource in (PODS, SERVICES, INGRESSES):
        listed = await kube.list(resource, query=[("limit", "1")], request_timeout=60)
        remaining = int(listed.get("metadata", {}).get("remainingItemCount") or 0)
        counts[resource.plural] = remaining + len(listed.get("items", []))
    return counts


async def measure_memory(
    kube: KubeClient, controller: Controller, args: argparse.Namespace
) -> dict[str, Any]:
    """The controller's RSS once the cluster holds ``--pods`` Pods and ``--extra-services`` Services."""
    before = controller.rss_bytes()
    have = await count_objects(kube)
    fill_seconds = await fill_caches(
        kube, max(0, args.pods - have["pods"]), max(0, args.extra_services - have["services"])
    )
    await asyncio.sleep(15)  # the watch events of the last creates reach the caches
    samples = []
    for _ in range(5):
        samples.append(controller.rss_bytes())
        await asyncio.sleep(1)
    return {
        "objects": await count_objects(kube),
        "fill_seconds": round(fill_seconds, 1),
        "rss_mib_before": round(before / 2**20, 1),
        "rss_mib": round(max(samples) / 2**20, 1),
    }


# ============================================================================== the run


async def run(
    args: argparse.Namespace, kubeconfig: Path, kind: str, moto: MotoServer, work_dir: Path
) -> dict[str, Any]:
    fleet = Fleet.plan(args.ingresses, args.services)
    minimal = minimal_calls(fleet)
    result: dict[str, Any] = {
        "benchmark": "cold_start",
        "api_server": kind,
        "aws_rate": args.aws_rate,
        "fleet": {
            "ingresses": len(fleet.ingresses),
            "grouped_ingresses": sum(1 for s in fleet.ingresses if s.group),
            "nlb_services": len(fleet.services),
            "load_balancers": fleet.load_balancers,
            "node_security_groups": NODE_SG_COUNT,
        },
        "load_average_at_start": os.getloadavg(),
        "minimal": {
            "by_operation": minimal.by_operation,
            "total": minimal.total,
            "derivation": minimal.derivation,
        },
        "work_dir": str(work_dir),
    }
    lbs = fleet.load_balancers
    async with (
        AwsProxy(moto.url) as proxy,
        open_aws_client(sandbox_settings(moto.url), CollectorRegistry()) as direct,
        await kube_client(kubeconfig) as kube,
    ):
        # ---- 1. the replay, with the controller's own client settings, into an empty moto
        # (moto's cost per call grows with what it holds: both runs start from nothing).
        throttle = client_throttle_flags(args.aws_rate, args.client_share)
        if args.aws_rate:
            # The replay meets AWS's buckets as the controller will.
            proxy.use_documented_aws_limits()
        config = parse_config(controller_flags_for_client(throttle))
        settings = dataclasses.replace(
            aws_settings_from(dataclasses.replace(config, aws_api_endpoints={"ec2": proxy.url})),
            credentials=StaticCredentials("testing", "testing"),
        )
        concurrency = config.ingress_max_concurrent_reconciles + config.service_max_concurrent_reconciles
        proxy.reset_counts()
        async with open_aws_client(settings, CollectorRegistry()) as replay_client:
            replayed = await replay(replay_client, fleet, concurrency)
        replayed["proxy_calls"] = call_report(proxy)["by_operation"]
        replayed["moto_5xx"] = errors_answered(proxy)["moto_5xx_by_operation"]
        replayed["concurrency"] = concurrency
        result["replay"] = {k: v for k, v in replayed.items() if k != "lb_done_at"}
        progress("replay done", **result["replay"])
        moto.reset()

        world = await seed_world(direct, kube)
        started = time.monotonic()
        await create_fleet(kube, direct, world, fleet)
        result["fleet"]["create_seconds"] = round(time.monotonic() - started, 1)
        progress("fleet created", **result["fleet"])
        flags = controller_flags(world, kubeconfig, throttle)

        # ---- 2. cold start
        proxy.reset_counts()
        log_dir = work_dir
        async with controller_process(flags, proxy.url, log_dir / "cold.log") as controller:
            t0 = time.monotonic()
            seconds, timeline, hosts = await wait_converged(kube, fleet, t0, args.timeout, controller)
            last = await settle(proxy, quiet=10.0, cap=300.0, mutating_only=True)
            calls = call_report(proxy)
            dump_requests(proxy, work_dir / "requests-cold.jsonl")
            by_op = calls["by_operation"]
            mutating = {op: n for op, n in by_op.items() if is_mutating(op)}
            extra = {
                op: mutating.get(op, 0) - minimal.by_operation.get(op, 0)
                for op in sorted(set(mutating) | set(minimal.by_operation))
                if mutating.get(op, 0) != minimal.by_operation.get(op, 0)
            }
            # Converged: every hostname published and every mutating call made (targets are
            # registered after the hostname appears). The replay's time is its last call's.
            converged = max(seconds, last - t0)
            cold: dict[str, Any] = {
                "seconds_to_all_hostnames": round(seconds, 1),
                "seconds_to_last_mutating_call": round(last - t0, 1),
                "seconds_converged": round(converged, 1),
                **calls,
                "mutating_over_minimal": round(calls["mutating_calls"] / minimal.total, 3),
                "mutating_calls_beyond_minimal_by_operation": extra,
                "describes_per_lb": round(calls["describe_calls"] / lbs, 2),
                "ratio_to_replay": round(converged / replayed["seconds"], 2),
                **errors_answered(proxy),
                **surfaced_errors(controller.log()),
                "rss_mib_after": round(controller.rss_bytes() / 2**20, 1),
            }
            if args.aws_rate:
                bound = bucket_bound(minimal)
                share = args.client_share if args.client_share is not None else CLIENT_SHARE_OF_AWS_LIMITS
                client_bound = bucket_bound(minimal, share)
                cold["aws_bucket_bound"] = bound
                cold["ratio_to_aws_bound"] = round(converged / max(bound["seconds"], 0.1), 2)
                cold["client_share_bound"] = {"share": share, **client_bound}
                cold["ratio_to_client_share_bound"] = round(converged / max(client_bound["seconds"], 0.1), 2)
            result["cold_start"] = cold
            result["targets"] = {
                "mutating_over_minimal<=1.02": cold["mutating_over_minimal"] <= 1.02,
                "describes_per_lb<=2": cold["describes_per_lb"] <= 2,
                "time_over_replay<=1.3": cold["ratio_to_replay"] <= 1.3,
            }
            if args.aws_rate:
                result["targets"]["time_over_aws_bound<=1.1"] = cold["ratio_to_aws_bound"] <= 1.1
                result["targets"]["throttling_errors_surfaced==0"] = cold["throttling_reconcile_errors"] == 0
            progress("cold start done", **cold)
            if args.skip_after and not args.skip_memory:
                result["memory"] = await measure_memory(kube, controller, args)
        proxy.clear_throttles()
        plot(args.plot, timeline, replayed["lb_done_at"], minimal, lbs, args.aws_rate, seconds)

        if args.skip_after:
            return result
        # ---- 3. restart with a short sync period: start-up pass, then one periodic resync
        sync_period = args.sync_period or max(60.0, 0.25 * lbs)
        proxy.reset_counts()
        async with controller_process(
            [*flags, f"--sync-period={sync_period:g}s"], proxy.url, log_dir / "resync.log"
        ) as controller:
            watch = ResyncWatch(controller)
            t0 = time.monotonic()
            last = await settle(proxy, quiet=5.0, cap=600.0, first_call=True)
            restart = {"seconds_from_process_start": round(last - t0, 1), **call_report(proxy)}
            proxy.reset_counts()
            tick = await watch.next_tick(watch.ticks(), within=sync_period * 3)
            last = await settle(proxy, quiet=5.0, cap=600.0)
            periodic = {"seconds_from_tick_to_last_call": round(last - tick, 1), **call_report(proxy)}
            result["resync"] = {"sync_period_s": sync_period, "restart": restart, "periodic": periodic}
            result["targets"]["resync_mutating==0"] = (
                restart["mutating_calls"] == 0 and periodic["mutating_calls"] == 0
            )
            progress("resync done", **result["resync"])

            # ---- 4. drift in 10 places
            drifts = await plan_drift(direct, world, fleet, hosts)
            ticks = watch.ticks()
            planted = time.monotonic()
            for drift in drifts:
                await drift.plant()
            proxy.reset_counts()
            tick = await watch.next_tick(ticks, within=sync_period * 3)
            # Repaired by the pass this tick started: checked until the next tick begins.
            left = await unrepaired(drifts)
            while left and watch.ticks() <= ticks + 1 and time.monotonic() - tick < 3 * sync_period:
                await asyncio.sleep(1.0)
                left = await unrepaired(drifts)
            repaired = time.monotonic()
            last = await settle(proxy, quiet=5.0, cap=600.0)
            result["drift"] = {
                "planted": [d.what for d in drifts],
                "left_unrepaired_after_one_period": left,
                "seconds_from_planting": round(repaired - planted, 1),
                "seconds_from_tick": round(repaired - tick, 1),
                "seconds_from_tick_to_last_call": round(last - tick, 1),
                **call_report(proxy),
            }
            result["targets"]["drift_repaired_in_one_period"] = not left
            progress("drift done", **result["drift"])

            # ---- 5. single changes at scale (right after a resync settled: the next is a period away)
            result["changes"] = await single_changes(kube, direct, proxy, fleet, hosts, watch, sync_period)
            result["targets"]["single_change<=8_calls"] = all(c["calls"] <= 8 for c in result["changes"])

            # ---- 6. memory with big caches
            if not args.skip_memory:
                result["memory"] = await measure_memory(kube, controller, args)
        result["load_average_at_end"] = os.getloadavg()
    return result


def plot(
    path: Path,
    ours: list[tuple[float, int]],
    replay_done: list[float],
    minimal: MinimalCalls,
    lbs: int,
    aws_rate: bool,
    seconds: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    axes.step(
        [t for t, _ in ours], [n for _, n in ours], where="post", label="controller (hostnames published)"
    )
    axes.step(
        [0.0, *replay_done],
        range(len(replay_done) + 1),
        where="post",
        label="replay of the minimal calls, no limits",
    )
    horizon = max(seconds, replay_done[-1] if replay_done else 0.0) * 1.05
    curve = bound_curve(minimal, lbs, horizon)
    axes.plot(
        [t for t, _ in curve], [n for _, n in curve], linestyle="--", label="bound of AWS's per-API buckets"
    )
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("load balancers converged")
    axes.set_title(
        f"Cold start, {lbs} load balancers" + (" (proxy enforcing AWS's buckets)" if aws_rate else "")
    )
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ingresses", type=int, default=1000)
    parser.add_argument("--services", type=int, default=200, help="NLB Services")
    parser.add_argument(
        "--standin", action="store_true", help="the stand-in API server instead of kube-apiserver"
    )
    parser.add_argument("--aws-rate", action="store_true", help="the proxy enforces AWS's per-API buckets")
    parser.add_argument(
        "--client-share",
        type=float,
        default=None,
        help="with --aws-rate: the controller's (and the replay's) client buckets at this share of AWS's "
        f"(default: the controller's built-in {CLIENT_SHARE_OF_AWS_LIMITS})",
    )
    parser.add_argument("--sync-period", type=float, default=0.0, help="seconds (0: max(60, 0.25 s per LB))")
    parser.add_argument(
        "--skip-after",
        action="store_true",
        help="no restart, resync, drift or changes (memory still measured)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="leave out the big-cache RSS measurement")
    parser.add_argument(
        "--pods", type=int, default=20_000, help="Pods in the cluster for the RSS measurement"
    )
    parser.add_argument(
        "--extra-services", type=int, default=2_000, help="Services in the cluster for the RSS measurement"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds the cold start may take")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "cold_start.png")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="cold-start-"))
    with MotoServer() as moto:
        moto.warm_up(SANDBOX_REGION)
        with api_server(args.standin, work_dir) as (kubeconfig, kind):
            result = asyncio.run(run(args, kubeconfig, kind, moto, work_dir))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
