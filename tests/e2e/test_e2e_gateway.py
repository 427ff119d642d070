"""End to end: Gateways (Gateway API) get the same security groups as Ingresses and Services.

The controller process runs against the real kube-apiserver with the Gateway API CRDs and ours
installed, and moto behind the AWS-like proxy. Covered: an ALB Gateway with two HTTPRoutes; an NLB
Gateway with a TCPRoute and a UDPRoute; custom SGs with and without
``manageBackendSecurityGroupRules``; a Gateway and an Ingress sharing the backend SG, deleted in
both orders; ``sourceRanges`` changed in place (authorize before revoke); bad configuration (an
unknown SG, an invalid CIDR) reported on the Gateway without disturbing another one; a missing
backend (``ResolvedRefs=False``, ``BackendNotFound``); nothing of ours left in the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from e2e_harness import (
    RunningController,
    StartController,
    delete_and_wait_gone,
    delete_ingresses_and_wait,
    wait_for,
    wait_for_load_balancer,
    wait_for_nothing_of_ours_left,
)
from e2e_objects import (
    condition,
    create_node_port_service,
    create_security_group,
    create_udp_node_port_service,
    gateway_class_manifest,
    gateway_manifest,
    ingress_manifest,
    ingress_rules,
    labelled_node_rules,
    lb_configuration_manifest,
    namespace_events,
    route_manifest,
    security_groups_named,
)

from controller.aws.client import AwsClient
from controller.gateway.resources import (
    GATEWAY_CLASSES,
    GATEWAYS,
    HTTP_ROUTES,
    LOAD_BALANCER_CONFIGURATIONS,
    TCP_ROUTES,
    UDP_ROUTES,
)
from controller.naming import backend_sg_name
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import INGRESSES, KubeApiError, KubeClient

pytestmark = pytest.mark.usefixtures("gateway_crds")

ALB = "gateway.k8s.aws/alb"
NLB = "gateway.k8s.aws/nlb"


async def _gateway_class(kube: KubeClient, namespace: str, controller: str, **config: Any) -> str:
    """A GatewayClass of its own (cluster-scoped: unique name) with an internet-facing configuration."""
    name = f"{namespace}-{controller.rsplit('/', 1)[1]}-{uuid.uuid4().hex[:4]}"
    await kube.create(
        LOAD_BALANCER_CONFIGURATIONS, lb_configuration_manifest(f"{name}-cfg", **config), namespace
    )
    await kube.create(GATEWAY_CLASSES, gateway_class_manifest(name, controller, namespace, f"{name}-cfg"))
    return name


async def _delete_class(kube: KubeClient, name: str) -> None:
    try:
        await kube.request("DELETE", GATEWAY_CLASSES.object_path(name))
    except KubeApiError as error:
        if not error.is_not_found:
            raise


@pytest_asyncio.fixture
async def alb_class(kube: KubeClient, namespace: str) -> AsyncIterator[str]:
    """A GatewayClass of its own for ``gateway.k8s.aws/alb``, deleted after the test."""
    name = await _gateway_class(kube, namespace, ALB)
    yield name
    await _delete_class(kube, name)


@pytest_asyncio.fixture
async def nlb_class(kube: KubeClient, namespace: str) -> AsyncIterator[str]:
    """A GatewayClass of its own for ``gateway.k8s.aws/nlb``, deleted after the test."""
    name = await _gateway_class(kube, namespace, NLB)
    yield name
    await _delete_class(kube, name)


async def _programmed(
    running: RunningController, aws: AwsClient, kube: KubeClient, namespace: str, name: str
) -> dict[str, Any]:
    """The load balancer the Gateway's status names once it says ``Programmed``."""

    async def probe() -> dict[str, Any] | None:
        gateway = await kube.get(GATEWAYS, name, namespace)
        programmed = condition(gateway, "Programmed")
        addresses = (gateway.get("status") or {}).get("addresses") or []
        if not programmed or programmed["status"] != "True" or not addresses:
            return None
        hostname = addresses[0]["value"]
        for balancer in (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]:
            if balancer["DNSName"].lower() == hostname:
                return {"balancer": balancer, "gateway": gateway}
        raise AssertionError(f"status names {hostname}, but no such load balancer exists")

    return await wait_for(running, probe, f"Gateway {namespace}/{name} programmed", within=90)


async def _route_conditions(
    kube: KubeClient, resource: Any, namespace: str, name: str
) -> dict[str, dict[str, Any]]:
    route = await kube.get(resource, name, namespace)
    parents = (route.get("status") or {}).get("parents") or []
    return {c["type"]: c for parent in parents for c in parent.get("conditions") or ()}


async def _managed_sg(aws: AwsClient, balancer: dict[str, Any]) -> str:
    """The LB's SG that is neither the backend SG nor a custom one: the managed SG."""
    for group_id in balancer.get("SecurityGroups") or ():
        described = (await aws.call("ec2", "DescribeSecurityGroups", GroupIds=[group_id]))["SecurityGroups"][
            0
        ]
        if described["Description"] == "[k8s] Managed SecurityGroup for LoadBalancer":
            return str(group_id)
    raise AssertionError(f"no managed SG among {balancer.get('SecurityGroups')}")


async def _backend_sg(aws: AwsClient, cluster: SandboxCluster) -> str | None:
    found = await security_groups_named(aws, cluster.vpc.vpc_id, backend_sg_name(cluster.vpc.cluster_name))
    return str(found[0]["GroupId"]) if found else None


def _cidr_rules(permissions: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    return {
        (p["IpProtocol"], p["FromPort"], r["CidrIp"]) for p in permissions for r in p.get("IpRanges") or ()
    } | {
        (p["IpProtocol"], p["FromPort"], r["PrefixListId"])
        for p in permissions
        for r in p.get("PrefixListIds") or ()
    }


async def test_alb_gateway_with_two_http_routes_gets_managed_and_backend_sgs_and_gateway_api_status(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
    alb_class: str,
) -> None:
    shop = await create_node_port_service(kube, namespace, "shop")
    cart = await create_node_port_service(kube, namespace, "cart")
    async with start_controller() as running:
        await kube.create(
            GATEWAYS,
            gateway_manifest("web", alb_class, [{"name": "http", "protocol": "HTTP", "port": 80}]),
            namespace,
        )
        await kube.create(
            HTTP_ROUTES, route_manifest("HTTPRoute", "shop", "web", "shop", 80, path="/shop"), namespace
        )
        await kube.create(
            HTTP_ROUTES, route_manifest("HTTPRoute", "cart", "web", "cart", 80, path="/cart"), namespace
        )
        found = await _programmed(running, aws_api, kube, namespace, "web")
        balancer, backend = found["balancer"], await _backend_sg(aws_api, cluster)
        assert backend is not None and backend in balancer["SecurityGroups"]
        managed = await _managed_sg(aws_api, balancer)
        assert _cidr_rules(await ingress_rules(aws_api, managed)) == {("tcp", 80, "0.0.0.0/0")}

        async def two_rules_and_node_rules() -> bool | None:
            listeners = (
                await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=balancer["LoadBalancerArn"])
            )["Listeners"]
            if len(listeners) != 1:
                return None
            rules = (await aws_api.call("elbv2", "DescribeRules", ListenerArn=listeners[0]["ListenerArn"]))[
                "Rules"
            ]
            node = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            wanted = {(backend, "tcp", port, port) for port in (shop, cart)}
            if len([r for r in rules if not r["IsDefault"]]) != 2 or not wanted <= node:
                return None
            return True

        await wait_for(
            running, two_rules_and_node_rules, "two listener rules and node-SG rules for both NodePorts"
        )

        async def statuses() -> bool | None:
            gateway = await kube.get(GATEWAYS, "web", namespace)
            listener = (gateway["status"].get("listeners") or [{}])[0]
            shop_route = await _route_conditions(kube, HTTP_ROUTES, namespace, "shop")
            if listener.get("attachedRoutes") != 2 or shop_route.get("Accepted", {}).get("status") != "True":
                return None
            assert shop_route["ResolvedRefs"]["status"] == "True", shop_route
            assert condition(gateway, "Accepted")["status"] == "True"  # type: ignore[index]
            return True

        await wait_for(running, statuses, "Gateway listener attachedRoutes=2 and the routes Accepted")
        class_status = await kube.get(GATEWAY_CLASSES, alb_class)
        assert condition(class_status, "Accepted")["status"] == "True"  # type: ignore[index]

        await delete_and_wait_gone(kube, GATEWAYS, namespace, ["web"])
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="the Gateway's stack", count_cidr_sources=False
        )
        # Our parents entries go with the Gateway.
        assert await _route_conditions(kube, HTTP_ROUTES, namespace, "shop") == {}


async def test_nlb_gateway_with_tcp_and_udp_routes_opens_both_protocols_on_the_node_sg(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
    nlb_class: str,
) -> None:
    api = await create_node_port_service(kube, namespace, "api")
    dns = await create_udp_node_port_service(kube, namespace, "dns")
    async with start_controller() as running:
        listeners = [
            {"name": "api", "protocol": "TCP", "port": 80},
            {"name": "dns", "protocol": "UDP", "port": 53},
        ]
        await kube.create(GATEWAYS, gateway_manifest("edge", nlb_class, listeners), namespace)
        await kube.create(TCP_ROUTES, route_manifest("TCPRoute", "api", "edge", "api", 80), namespace)
        await kube.create(UDP_ROUTES, route_manifest("UDPRoute", "dns", "edge", "dns", 53), namespace)
        found = await _programmed(running, aws_api, kube, namespace, "edge")
        balancer = found["balancer"]
        assert balancer["Type"] == "network"
        backend = await _backend_sg(aws_api, cluster)
        managed = await _managed_sg(aws_api, balancer)

        async def converged() -> bool | None:
            listeners_now = (
                await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=balancer["LoadBalancerArn"])
            )["Listeners"]
            node = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            wanted = {(backend, "tcp", api, api), (backend, "udp", dns, dns)}
            if len(listeners_now) != 2 or not wanted <= node:
                return None
            return True

        await wait_for(running, converged, "TCP and UDP listeners and node rules for both NodePorts")
        assert _cidr_rules(await ingress_rules(aws_api, managed)) == {
            ("tcp", 80, "0.0.0.0/0"),
            ("udp", 53, "0.0.0.0/0"),
        }
        await delete_and_wait_gone(kube, GATEWAYS, namespace, ["edge"])
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="the NLB Gateway's stack", count_cidr_sources=False
        )


async def test_custom_sgs_with_and_without_backend_rule_management(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
    alb_class: str,
) -> None:
    node_port = await create_node_port_service(kube, namespace, "app")
    custom = await create_security_group(
        aws_api, cluster.vpc.vpc_id, f"{namespace}-front", {"Name": f"{namespace}-front"}
    )
    async with start_controller() as running:
        await kube.create(
            LOAD_BALANCER_CONFIGURATIONS,
            lb_configuration_manifest("custom", securityGroups=[f"{namespace}-front"]),
            namespace,
        )
        await kube.create(
            GATEWAYS,
            gateway_manifest(
                "web", alb_class, [{"name": "http", "protocol": "HTTP", "port": 80}], config="custom"
            ),
            namespace,
        )
        await kube.create(HTTP_ROUTES, route_manifest("HTTPRoute", "app", "web", "app", 80), namespace)
        found = await _programmed(running, aws_api, kube, namespace, "web")
        assert found["balancer"]["SecurityGroups"] == [custom]
        assert await labelled_node_rules(aws_api, cluster.node_security_group_id) == set()

        await kube.request(
            "PATCH",
            LOAD_BALANCER_CONFIGURATIONS.object_path("custom", namespace),
            body={"spec": {"manageBackendSecurityGroupRules": True}},
            content_type="application/merge-patch+json",
        )

        async def managed_rules() -> bool | None:
            backend = await _backend_sg(aws_api, cluster)
            balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
            groups = next(
                b["SecurityGroups"]
                for b in balancers
                if b["LoadBalancerArn"] == found["balancer"]["LoadBalancerArn"]
            )
            node = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            if (
                backend is None
                or groups != [custom, backend]
                or (backend, "tcp", node_port, node_port) not in node
            ):
                return None
            return True

        await wait_for(running, managed_rules, "the backend SG attached and node rules sourced from it")
        assert "[k8s]" not in str(await ingress_rules(aws_api, custom))  # the custom SG is never touched
        await delete_and_wait_gone(kube, GATEWAYS, namespace, ["web"])
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="the Gateway's stack", count_cidr_sources=False
        )


@pytest.mark.parametrize("first", ["gateway", "ingress"])
async def test_a_gateway_and_an_ingress_share_the_backend_sg_which_goes_with_the_last(
    first: str,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
    alb_class: str,
) -> None:
    gw_port = await create_node_port_service(kube, namespace, "gw-app")
    ing_port = await create_node_port_service(kube, namespace, "ing-app")
    async with start_controller() as running:
        await kube.create(
            GATEWAYS,
            gateway_manifest("web", alb_class, [{"name": "http", "protocol": "HTTP", "port": 80}]),
            namespace,
        )
        await kube.create(HTTP_ROUTES, route_manifest("HTTPRoute", "app", "web", "gw-app", 80), namespace)
        await kube.create(INGRESSES, ingress_manifest("ing", "ing-app"), namespace)
        gateway_lb = (await _programmed(running, aws_api, kube, namespace, "web"))["balancer"]
        ingress_lb = await wait_for_load_balancer(running, aws_api, kube, namespace, "ing")
        backend = await _backend_sg(aws_api, cluster)
        assert backend is not None
        assert backend in gateway_lb["SecurityGroups"] and backend in ingress_lb["SecurityGroups"]

        async def both_ports() -> bool | None:
            node = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            wanted = {(backend, "tcp", gw_port, gw_port), (backend, "tcp", ing_port, ing_port)}
            return True if wanted <= node else None

        await wait_for(running, both_ports, "node rules for the Gateway's and the Ingress's NodePorts")
        if first == "gateway":
            await delete_and_wait_gone(kube, GATEWAYS, namespace, ["web"])
            remaining_port = ing_port
        else:
            await delete_ingresses_and_wait(running, kube, namespace, "ing")
            remaining_port = gw_port

        async def only_the_other_left() -> bool | None:
            node = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            if node != {(backend, "tcp", remaining_port, remaining_port)}:
                return None
            return True

        await wait_for(
            running,
            only_the_other_left,
            f"only the rule of the remaining user after deleting the {first}",
        )
        assert await _backend_sg(aws_api, cluster) == backend  # still used by the other one
        if first == "gateway":
            await delete_ingresses_and_wait(running, kube, namespace, "ing")
        else:
            await delete_and_wait_gone(kube, GATEWAYS, namespace, ["web"])
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="both stacks and the backend SG", count_cidr_sources=False
        )
        assert await _backend_sg(aws_api, cluster) is None


async def test_source_ranges_change_in_place_authorizes_before_revoking(
    aws_api: AwsClient,
    aws_proxy: AwsProxy,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
    alb_class: str,
) -> None:
    await create_node_port_service(kube, namespace, "app")
    async with start_controller() as running:
        await kube.create(
            LOAD_BALANCER_CONFIGURATIONS,
            lb_configuration_manifest("ranges", sourceRanges=["10.0.0.0/8"]),
            namespace,
        )
        await kube.create(
            GATEWAYS,
            gateway_manifest(
                "web", alb_class, [{"name": "http", "protocol": "HTTP", "port": 80}], config="ranges"
            ),
            namespace,
        )
        await kube.create(HTTP_ROUTES, route_manifest("HTTPRoute", "app", "web", "app", 80), namespace)
        found = await _programmed(running, aws_api, kube, namespace, "web")
        managed = await _managed_sg(aws_api, found["balancer"])

        async def ranges(expected: set[tuple[str, int, str]]) -> bool | None:
            return True if _cidr_rules(await ingress_rules(aws_api, managed)) == expected else None

        # The Gateway's own configuration loses to the class's by default, but the class sets no sourceRanges.
        await wait_for(
            running, lambda: ranges({("tcp", 80, "10.0.0.0/8")}), "the managed SG open to 10.0.0.0/8 only"
        )
        aws_proxy.reset_counts()
        await kube.request(
            "PATCH",
            LOAD_BALANCER_CONFIGURATIONS.object_path("ranges", namespace),
            body={"spec": {"sourceRanges": ["192.168.0.0/16"]}},
            content_type="application/merge-patch+json",
        )
        await wait_for(
            running,
            lambda: ranges({("tcp", 80, "192.168.0.0/16")}),
            "the managed SG open to 192.168.0.0/16 only",
        )
        # On the managed SG (node SGs may see their own passes meanwhile): one authorize, then one revoke.
        operations = [
            record.operation
            for record in aws_proxy.request_log
            if "SecurityGroupIngress" in record.operation and record.params.get("GroupId") == managed
        ]
        assert operations == ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"], operations
        await delete_and_wait_gone(kube, GATEWAYS, namespace, ["web"])
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="the Gateway's stack", count_cidr_sources=False
        )


async def test_bad_configuration_is_reported_on_its_gateway_only_and_a_missing_backend_on_its_route(
    aws_api: AwsClient,
    aws_proxy: AwsProxy,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
    alb_class: str,
) -> None:
    await create_node_port_service(kube, namespace, "app")
    http = [{"name": "http", "protocol": "HTTP", "port": 80}]
    async with start_controller() as running:
        await kube.create(
            LOAD_BALANCER_CONFIGURATIONS,
            lb_configuration_manifest("unknown-sg", securityGroups=["no-such-sg"]),
            namespace,
        )
        await kube.create(
            LOAD_BALANCER_CONFIGURATIONS,
            lb_configuration_manifest("bad-cidr", sourceRanges=["10.0.0.300/8"]),
            namespace,
        )
        await kube.create(GATEWAYS, gateway_manifest("good", alb_class, http), namespace)
        await kube.create(GATEWAYS, gateway_manifest("sg", alb_class, http, config="unknown-sg"), namespace)
        await kube.create(GATEWAYS, gateway_manifest("cidr", alb_class, http, config="bad-cidr"), namespace)
        await kube.create(
            HTTP_ROUTES, route_manifest("HTTPRoute", "app", "good", "app", 80, path="/app"), namespace
        )
        await kube.create(
            HTTP_ROUTES,
            route_manifest("HTTPRoute", "gone", "good", "absent", 80, path="/gone"),
            namespace,
        )
        await _programmed(running, aws_api, kube, namespace, "good")

        async def reported(name: str, text: str) -> bool | None:
            gateway = await kube.get(GATEWAYS, name, namespace)
            accepted = condition(gateway, "Accepted")
            if not accepted or accepted["status"] != "False":
                return None
            assert accepted["reason"] == "Invalid" and text in accepted["message"], accepted
            events = [
                e
                for e in await namespace_events(kube, namespace)
                if e["regarding"]["name"] == name and e.get("reason") == "FailedBuildModel"
            ]
            if not events:
                return None
            assert events[0]["type"] == "Warning" and text in events[0]["note"], events[0]
            return True

        await wait_for(running, lambda: reported("sg", "no-such-sg"), "the unknown SG reported on Gateway sg")
        await wait_for(
            running, lambda: reported("cidr", "10.0.0.300/8"), "the invalid CIDR reported on Gateway cidr"
        )

        async def backend_not_found() -> bool | None:
            conditions = await _route_conditions(kube, HTTP_ROUTES, namespace, "gone")
            resolved = conditions.get("ResolvedRefs")
            if not resolved or resolved["status"] != "False":
                return None
            assert resolved["reason"] == "BackendNotFound" and "absent" in resolved["message"], resolved
            return True

        await wait_for(running, backend_not_found, "ResolvedRefs=False (BackendNotFound) on route gone")
        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert len(balancers) == 1, [b["LoadBalancerName"] for b in balancers]  # only Gateway good's
        good = await kube.get(GATEWAYS, "good", namespace)
        assert condition(good, "Programmed")["status"] == "True"  # type: ignore[index]
        await delete_and_wait_gone(kube, GATEWAYS, namespace, ["good", "sg", "cidr"])
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="everything of ours", count_cidr_sources=False
        )
