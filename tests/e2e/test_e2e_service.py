"""End to end: ``type: LoadBalancer`` Services become NLBs with their security groups.

Drives the controller process only through the Kubernetes API and reads AWS (moto behind the
proxy). Upstream scenarios (docs/upstream-behaviour.md §10):

* 2/4   the managed SG name hashes the Service UID: a re-created Service gets a new SG name;
* 17    tcp/80 and udp/53 from ``0.0.0.0/0`` on the managed SG of an ipv4 NLB;
* 18    ``spec.loadBalancerSourceRanges`` wins over the source-ranges annotation;
* 19    an IPv6 source range on an ipv4 NLB is a Warning ``FailedBuildModel`` naming the object,
        the key and the value, while other Services keep reconciling;
* 20    path-MTU ICMP rules (icmp 3/4, icmpv6 2/0) on a dualstack NLB;
* 36    the node SG lets the backend SG reach each NodePort, with our label;
* 39    a UDP target group with a traffic-port health check needs UDP and TCP on the NodePort;
* 40    ``externalTrafficPolicy: Local`` adds the ``healthCheckNodePort`` rule;

plus ip targets (a Pod whose IP is a secondary address of a node's ENI: registered on the
targetPort, and the node SG opened on that targetPort), the status hostname, the deletion guarantee
(no NLB, target group, managed or backend SG, or labelled node-SG rule of ours left; finalizer
``service.k8s.aws/resources`` released) and Services that are not ours costing no ELBv2 call.
"""

from __future__ import annotations

import re
from typing import Any

from e2e_harness import (
    RunningController,
    StartController,
    wait_for,
    wait_for_nothing_of_ours_left,
    wait_for_service_gone,
    wait_for_service_hostname,
)
from e2e_objects import (
    Rule,
    cidr_rules,
    endpoint_slice_manifest,
    ingress_rules,
    labelled_group_rules,
    load_balancer_hostname,
    namespace_events,
    packed,
    registered_targets,
    report_pod_running,
    security_groups_named,
    security_groups_tagged,
    tags_of,
)

from controller.aws.client import AwsClient
from controller.finalizers import SERVICE_FINALIZER
from controller.naming import (
    MANAGED_SG_DESCRIPTION,
    backend_sg_name,
    managed_sg_name_for_service,
)
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import ENDPOINT_SLICES, PODS, SERVICES, KubeClient

NLB_CLASS = "service.k8s.aws/nlb"
LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
IP_ADDRESS_TYPE = "service.beta.kubernetes.io/aws-load-balancer-ip-address-type"
ICMP_PATH_MTU = "service.beta.kubernetes.io/aws-load-balancer-enable-icmp-for-path-mtu-discovery"
# The sandbox subnets are tagged for internet-facing load balancers only.
INTERNET_FACING = {SCHEME: "internet-facing"}
# What every Service test waits for once its last Service is gone.
NOTHING_LEFT = "no NLB, TG, SG or labelled rule of ours left"
ELBV2_CREATES = ("CreateLoadBalancer", "CreateTargetGroup", "CreateListener")


# ------------------------------------------------------------------------------------------------
# Objects
# ------------------------------------------------------------------------------------------------


def _port(name: str, port: int, protocol: str = "TCP", target_port: int = 8080) -> dict[str, Any]:
    return {"name": name, "port": port, "protocol": protocol, "targetPort": target_port}


def _service(
    name: str,
    ports: list[dict[str, Any]],
    *,
    annotations: dict[str, str] | None = None,
    load_balancer_class: str | None = NLB_CLASS,
    **spec: Any,
) -> dict[str, Any]:
    body_spec: dict[str, Any] = {"type": "LoadBalancer", "selector": {"app": name}, "ports": ports, **spec}
    if load_balancer_class is not None:
        body_spec["loadBalancerClass"] = load_balancer_class
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": {**INTERNET_FACING, **(annotations or {})}},
        "spec": body_spec,
    }


def _node_ports(service: dict[str, Any]) -> dict[str, int]:
    return {str(p["name"]): int(p["nodePort"]) for p in service["spec"]["ports"]}


# ------------------------------------------------------------------------------------------------
# Reading AWS and the API
# ------------------------------------------------------------------------------------------------


async def _stack_sgs(
    aws: AwsClient, cluster: SandboxCluster, namespace: str, name: str
) -> list[dict[str, Any]]:
    return await security_groups_tagged(
        aws, cluster.vpc.vpc_id, "service.k8s.aws/stack", f"{namespace}/{name}"
    )


async def _backend_sgs(aws: AwsClient, cluster: SandboxCluster) -> list[dict[str, Any]]:
    return await security_groups_named(aws, cluster.vpc.vpc_id, backend_sg_name(cluster.vpc.cluster_name))


async def _load_balancer_by_dns(aws: AwsClient, dns_name: str) -> dict[str, Any]:
    balancers: list[dict[str, Any]] = (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
    matching = [lb for lb in balancers if lb["DNSName"].lower() == dns_name]
    assert len(matching) == 1, f"one NLB with DNS name {dns_name}, found {balancers}"
    return matching[0]


async def _target_groups_of(aws: AwsClient, lb_arn: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = (await aws.call("elbv2", "DescribeTargetGroups", LoadBalancerArn=lb_arn))[
        "TargetGroups"
    ]
    return groups


def _elbv2_creates(aws_proxy: AwsProxy) -> dict[str, int]:
    calls = aws_proxy.calls_by_operation()
    return {operation: calls[operation] for operation in ELBV2_CREATES}


# ------------------------------------------------------------------------------------------------
# Waiting for outcomes
# ------------------------------------------------------------------------------------------------


async def _wait_for_node_rules(
    running: RunningController, aws: AwsClient, cluster: SandboxCluster, expected: set[Rule]
) -> None:
    """The labelled SG-sourced rules on the node SG become exactly ``expected``, packed."""
    expected = packed(expected)

    async def probe() -> bool | None:
        actual = labelled_group_rules(await ingress_rules(aws, cluster.node_security_group_id))
        assert actual == expected, f"labelled node SG rules {sorted(actual)}, want {sorted(expected)}"
        return True

    await wait_for(running, probe, "the labelled rules on the node SG")


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


async def test_instance_nlb_gets_its_security_groups_and_deleting_it_leaves_nothing(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 2/4, 17, 36, 39, status, deletion; Services that are not ours cost no ELBv2 call."""
    cluster_name = cluster.vpc.cluster_name
    # Not ours: no class and no annotation; another controller's class; ``external`` without a
    # valid target type (upstream's matcher wants ``ip`` or ``instance``).
    not_ours = {
        "plain": _service("plain", [_port("http", 80)], load_balancer_class=None),
        "other-class": _service("other-class", [_port("http", 80)], load_balancer_class="example.com/lb"),
        "half-annotated": _service(
            "half-annotated", [_port("http", 80)], load_balancer_class=None, annotations={LB_TYPE: "external"}
        ),
    }
    for body in not_ours.values():
        await kube.create(SERVICES, body, namespace)
    web = _service("web", [_port("http", 80), _port("dns", 53, "UDP")])

    async with start_controller() as running:
        created = await kube.create(SERVICES, web, namespace)
        node_ports = _node_ports(created)
        dns_name = await wait_for_service_hostname(running, kube, namespace, "web")
        # Start-up ended with what it built frozen out of garbage collection (framework.startup_gc).
        frozen = re.search(r"Start-up objects frozen out of garbage collection: (\d+)", running.log())
        assert frozen is not None and int(frozen.group(1)) > 0, running.log()[-3000:]

        balancer = await _load_balancer_by_dns(aws_api, dns_name)
        assert (balancer["Type"], balancer["Scheme"]) == ("network", "internet-facing")
        managed = await _stack_sgs(aws_api, cluster, namespace, "web")
        backend = await _backend_sgs(aws_api, cluster)
        assert len(managed) == 1 and len(backend) == 1, (managed, backend)
        managed_sg, backend_sg_id = managed[0], backend[0]["GroupId"]
        assert balancer["SecurityGroups"] == [managed_sg["GroupId"], backend_sg_id]
        # Scenario 2: the name hashes cluster, name, namespace and UID.
        first_uid = str(created["metadata"]["uid"])
        first_sg_name = managed_sg_name_for_service(cluster_name, namespace, "web", first_uid)
        assert managed_sg["GroupName"] == first_sg_name
        assert managed_sg["Description"] == MANAGED_SG_DESCRIPTION
        assert tags_of(managed_sg)["elbv2.k8s.aws/cluster"] == cluster_name
        assert tags_of(managed_sg)["service.k8s.aws/resource"] == "ManagedLBSecurityGroup"
        # Scenario 17: one rule per Service port from 0.0.0.0/0, with the port's own protocol.
        assert cidr_rules(await ingress_rules(aws_api, managed_sg["GroupId"])) == {
            ("tcp", 80, 80, "0.0.0.0/0"),
            ("udp", 53, 53, "0.0.0.0/0"),
        }
        # One TCP and one UDP target group behind the NLB.
        target_groups = await _target_groups_of(aws_api, balancer["LoadBalancerArn"])
        assert sorted((tg["Protocol"], tg["TargetType"]) for tg in target_groups) == [
            ("TCP", "instance"),
            ("UDP", "instance"),
        ]
        tcp_group = next(tg for tg in target_groups if tg["Protocol"] == "TCP")
        nodes = {(node.instance_id, node_ports["http"]) for node in cluster.nodes}

        async def nodes_registered() -> bool | None:
            registered = await registered_targets(aws_api, tcp_group["TargetGroupArn"])
            assert registered == nodes, f"registered {registered}, want {nodes}"
            return True

        await wait_for(running, nodes_registered, "both nodes registered on the http NodePort")
        # Scenario 36 (TCP NodePort) and 39 (UDP target group with a traffic-port health check:
        # UDP and TCP on its NodePort), all from the backend SG.
        await _wait_for_node_rules(
            running,
            aws_api,
            cluster,
            {
                ("tcp", node_ports["http"], node_ports["http"], backend_sg_id),
                ("udp", node_ports["dns"], node_ports["dns"], backend_sg_id),
                ("tcp", node_ports["dns"], node_ports["dns"], backend_sg_id),
            },
        )
        live = await kube.get(SERVICES, "web", namespace)
        assert SERVICE_FINALIZER in live["metadata"]["finalizers"]

        # Deletion: the finalizer goes only after the NLB, its TGs, both SGs and our rules are gone.
        await kube.request("DELETE", SERVICES.object_path("web", namespace))
        await wait_for_service_gone(running, kube, namespace, "web")
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what=NOTHING_LEFT, count_cidr_sources=True
        )

        # Scenario 4: re-created with the same name, the Service has a new UID and so a new SG name.
        recreated = await kube.create(SERVICES, web, namespace)
        second_uid = str(recreated["metadata"]["uid"])
        assert second_uid != first_uid
        await wait_for_service_hostname(running, kube, namespace, "web")
        again = await _stack_sgs(aws_api, cluster, namespace, "web")
        assert [g["GroupName"] for g in again] == [
            managed_sg_name_for_service(cluster_name, namespace, "web", second_uid)
        ]
        assert again[0]["GroupName"] != first_sg_name

        # The Services that are not ours were never touched, and cost no ELBv2 create: the only
        # creates are the two rounds of web's NLB (one LB, two TGs, two listeners each).
        assert _elbv2_creates(aws_proxy) == {
            "CreateLoadBalancer": 2,
            "CreateTargetGroup": 4,
            "CreateListener": 4,
        }
        for name in not_ours:
            service = await kube.get(SERVICES, name, namespace)
            assert not service["metadata"].get("finalizers"), service["metadata"]
            assert not (service.get("status") or {}).get("loadBalancer", {}).get("ingress"), service["status"]

        await kube.request("DELETE", SERVICES.object_path("web", namespace))
        await wait_for_service_gone(running, kube, namespace, "web")
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what=NOTHING_LEFT, count_cidr_sources=True
        )

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_source_ranges_icmp_local_policy_and_a_bad_source_range(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 18, 19, 20, 40; the backend SG outlives one user and goes with the last."""
    # Annotation-selected (no class), Local traffic policy, source ranges in both places.
    ranges = _service(
        "ranges",
        [_port("http", 80)],
        load_balancer_class=None,
        annotations={LB_TYPE: "external", TARGET_TYPE: "instance", SOURCE_RANGES: "1.2.3.0/24"},
        loadBalancerSourceRanges=["10.0.0.0/8"],
        externalTrafficPolicy="Local",
    )
    mtu = _service(
        "mtu",
        [_port("tcp", 8443, target_port=8443)],
        annotations={
            IP_ADDRESS_TYPE: "dualstack",
            ICMP_PATH_MTU: "on",
            SOURCE_RANGES: "10.0.0.0/8, 2001:db8::/32",
        },
    )
    broken = _service("broken", [_port("http", 80)], loadBalancerSourceRanges=["2001:db8::/32"])

    async with start_controller() as running:
        await kube.create(SERVICES, broken, namespace)
        created_ranges = await kube.create(SERVICES, ranges, namespace)
        created_mtu = await kube.create(SERVICES, mtu, namespace)
        ranges_ports, mtu_ports = _node_ports(created_ranges), _node_ports(created_mtu)
        health_check_port = int(created_ranges["spec"]["healthCheckNodePort"])
        await wait_for_service_hostname(running, kube, namespace, "ranges")
        await wait_for_service_hostname(running, kube, namespace, "mtu")
        backend_sg_id = (await _backend_sgs(aws_api, cluster))[0]["GroupId"]

        # Scenario 18: spec.loadBalancerSourceRanges wins; the annotation's range is not used.
        ranges_sg = (await _stack_sgs(aws_api, cluster, namespace, "ranges"))[0]["GroupId"]
        assert cidr_rules(await ingress_rules(aws_api, ranges_sg)) == {("tcp", 80, 80, "10.0.0.0/8")}
        # Scenario 20: ICMP "fragmentation needed" per CIDR family next to the port rules.
        mtu_sg = (await _stack_sgs(aws_api, cluster, namespace, "mtu"))[0]["GroupId"]
        assert cidr_rules(await ingress_rules(aws_api, mtu_sg)) == {
            ("tcp", 8443, 8443, "10.0.0.0/8"),
            ("tcp", 8443, 8443, "2001:db8::/32"),
            ("icmp", 3, 4, "10.0.0.0/8"),
            ("icmpv6", 2, 0, "2001:db8::/32"),
        }
        # Scenario 40: with externalTrafficPolicy Local the target group health-checks kube-proxy
        # on healthCheckNodePort, so the node SG opens it next to the NodePort.
        ranges_lb = await _load_balancer_by_dns(
            aws_api, str(await load_balancer_hostname(kube, SERVICES, namespace, "ranges"))
        )
        [ranges_tg] = await _target_groups_of(aws_api, ranges_lb["LoadBalancerArn"])
        assert (
            ranges_tg["HealthCheckPort"],
            ranges_tg["HealthCheckProtocol"],
            ranges_tg["HealthCheckPath"],
        ) == (
            str(health_check_port),
            "HTTP",
            "/healthz",
        )
        node_port, mtu_node_port = ranges_ports["http"], mtu_ports["tcp"]
        await _wait_for_node_rules(
            running,
            aws_api,
            cluster,
            {
                ("tcp", node_port, node_port, backend_sg_id),
                ("tcp", health_check_port, health_check_port, backend_sg_id),
                ("tcp", mtu_node_port, mtu_node_port, backend_sg_id),
            },
        )

        # Scenario 19: the IPv6 range on an ipv4 NLB is a Warning naming object, key and value;
        # nothing was created for that Service (the two others reconciled above).
        async def warning() -> dict[str, Any] | None:
            for event in await namespace_events(kube, namespace):
                if event.get("reason") == "FailedBuildModel" and event["regarding"]["name"] == "broken":
                    return event
            return None

        event = await wait_for(running, warning, "a FailedBuildModel event on Service broken")
        assert event["type"] == "Warning" and event["regarding"]["kind"] == "Service"
        assert "spec.loadBalancerSourceRanges" in event["note"] and "2001:db8::/32" in event["note"], event
        assert await _stack_sgs(aws_api, cluster, namespace, "broken") == []
        assert not (await kube.get(SERVICES, "broken", namespace))["metadata"].get("finalizers")

        # Deleting one of two users: its NLB, TG, managed SG and rule go; the backend SG stays.
        await kube.request("DELETE", SERVICES.object_path("mtu", namespace))
        await wait_for_service_gone(running, kube, namespace, "mtu")
        await _wait_for_node_rules(
            running,
            aws_api,
            cluster,
            {
                ("tcp", node_port, node_port, backend_sg_id),
                ("tcp", health_check_port, health_check_port, backend_sg_id),
            },
        )

        async def mtu_resources_gone() -> bool | None:
            balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
            groups = (await aws_api.call("elbv2", "DescribeTargetGroups"))["TargetGroups"]
            assert [lb["LoadBalancerArn"] for lb in balancers] == [ranges_lb["LoadBalancerArn"]], balancers
            assert [tg["TargetGroupArn"] for tg in groups] == [ranges_tg["TargetGroupArn"]], groups
            assert await _stack_sgs(aws_api, cluster, namespace, "mtu") == []
            return True

        await wait_for(running, mtu_resources_gone, "Service mtu's NLB, TG and managed SG deleted")
        assert [g["GroupId"] for g in await _backend_sgs(aws_api, cluster)] == [backend_sg_id]

        await kube.request("DELETE", SERVICES.object_path("ranges", namespace))
        await kube.request("DELETE", SERVICES.object_path("broken", namespace))
        await wait_for_service_gone(running, kube, namespace, "ranges")
        await wait_for_service_gone(running, kube, namespace, "broken")
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what=NOTHING_LEFT, count_cidr_sources=True
        )

    assert running.process.returncode == 0, running.log()[-4000:]


async def _pod_ip_on_node(aws: AwsClient, instance_id: str) -> str:
    """A secondary private IP on the node's primary ENI, as the VPC CNI hands out to pods."""
    reservations = (await aws.call("ec2", "DescribeInstances", InstanceIds=[instance_id]))["Reservations"]
    interfaces = reservations[0]["Instances"][0]["NetworkInterfaces"]
    primary = next(e for e in interfaces if e["Attachment"]["DeviceIndex"] == 0)
    assigned = await aws.call(
        "ec2",
        "AssignPrivateIpAddresses",
        NetworkInterfaceId=primary["NetworkInterfaceId"],
        SecondaryPrivateIpAddressCount=1,
    )
    return str(assigned["AssignedPrivateIpAddresses"][0]["PrivateIpAddress"])


async def _running_pod(kube: KubeClient, namespace: str, name: str, node_name: str, pod_ip: str) -> None:
    """A Pod scheduled on ``node_name`` whose status (written as the kubelet does) carries ``pod_ip``."""
    pod = await kube.create(
        PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "echo"}},
            "spec": {
                "nodeName": node_name,
                "containers": [{"name": "echo", "image": "echo", "ports": [{"containerPort": 8080}]}],
            },
        },
        namespace,
    )
    await report_pod_running(kube, namespace, pod, pod_ip)


async def test_ip_target_nlb_registers_the_pod_and_opens_its_port_on_the_node_sg(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """ip targets: the pod IP on the targetPort, and the pod's ENI SG (here the node's primary ENI,
    which holds the pod IP as a secondary address) opened on the targetPort from the backend SG.
    Dropping our annotations makes the Service no longer ours: everything is cleaned up and the
    finalizer released while the Service itself stays."""
    node = cluster.nodes[0]
    pod_ip = await _pod_ip_on_node(aws_api, node.instance_id)
    await _running_pod(kube, namespace, "echo-0", node.name, pod_ip)
    await kube.create(
        ENDPOINT_SLICES, endpoint_slice_manifest("echo", "echo-0", namespace, pod_ip), namespace
    )
    echo = _service(
        "echo",
        [_port("http", 80, target_port=8080)],
        load_balancer_class=None,
        annotations={LB_TYPE: "external", TARGET_TYPE: "ip"},
    )

    async with start_controller() as running:
        await kube.create(SERVICES, echo, namespace)
        dns_name = await wait_for_service_hostname(running, kube, namespace, "echo")
        balancer = await _load_balancer_by_dns(aws_api, dns_name)
        [target_group] = await _target_groups_of(aws_api, balancer["LoadBalancerArn"])
        assert (target_group["TargetType"], target_group["Protocol"], target_group["Port"]) == (
            "ip",
            "TCP",
            8080,
        )
        managed_sg = (await _stack_sgs(aws_api, cluster, namespace, "echo"))[0]["GroupId"]
        assert cidr_rules(await ingress_rules(aws_api, managed_sg)) == {("tcp", 80, 80, "0.0.0.0/0")}

        async def pod_registered() -> bool | None:
            registered = await registered_targets(aws_api, target_group["TargetGroupArn"])
            assert registered == {(pod_ip, 8080)}, f"registered {registered}"
            return True

        await wait_for(running, pod_registered, f"pod {pod_ip}:8080 registered")
        backend_sg_id = (await _backend_sgs(aws_api, cluster))[0]["GroupId"]
        await _wait_for_node_rules(running, aws_api, cluster, {("tcp", 8080, 8080, backend_sg_id)})

        # No longer ours (annotations dropped): cleaned up like a deletion, the Service stays.
        live = await kube.get(SERVICES, "echo", namespace)
        live["metadata"]["annotations"] = dict(INTERNET_FACING)
        await kube.replace(SERVICES, "echo", live, namespace)

        async def released() -> bool | None:
            service = await kube.get(SERVICES, "echo", namespace)
            assert not service["metadata"].get("finalizers"), service["metadata"].get("finalizers")
            assert not (service.get("status") or {}).get("loadBalancer", {}).get("ingress"), service["status"]
            return True

        await wait_for(running, released, "Service echo's finalizer and status released", within=90)
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what=NOTHING_LEFT, count_cidr_sources=True
        )
        await kube.request("DELETE", SERVICES.object_path("echo", namespace))

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_after_a_restart_deleting_the_last_service_still_deletes_the_backend_sg(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """design.md Difference 1 (upstream scenario 34 keeps the SG): the backend SG's users are
    recomputed from the Services carrying our finalizer, so a Service deleted after a restart
    still releases the backend SG, and nothing of ours is left. The SG deletions first meet
    DependencyViolation (the NLB's ENIs linger a while in AWS): retried until they succeed."""
    async with start_controller(log_name="first") as first:
        await kube.create(SERVICES, _service("web", [_port("http", 80)]), namespace)
        await wait_for_service_hostname(first, kube, namespace, "web")
        backend_sg_id = (await _backend_sgs(aws_api, cluster))[0]["GroupId"]
        node_port = _node_ports(await kube.get(SERVICES, "web", namespace))["http"]
        await _wait_for_node_rules(first, aws_api, cluster, {("tcp", node_port, node_port, backend_sg_id)})
    assert first.process.returncode == 0, first.log()[-4000:]

    dependency_violations = 2
    aws_proxy.faults.fail(
        "DeleteSecurityGroup",
        code="DependencyViolation",
        status=400,
        message="resource has a dependent object",
        times=dependency_violations,
    )
    async with start_controller(log_name="second") as second:
        await kube.request("DELETE", SERVICES.object_path("web", namespace))
        await wait_for_service_gone(second, kube, namespace, "web")
        await wait_for_nothing_of_ours_left(
            second, aws_api, cluster, what=NOTHING_LEFT, count_cidr_sources=True
        )
    assert second.process.returncode == 0, second.log()[-4000:]
    # The managed SG and the backend SG were each deleted once, after the injected failures.
    assert aws_proxy.calls_by_operation()["DeleteSecurityGroup"] == dependency_violations + 2
