"""``Planner`` against moto behind the AWS-like proxy: it sends only reads, and what it records is the
whole change: replaying the recorded calls in order (new ids substituted) leaves nothing to plan.

Scenarios: a new Ingress (managed SG, backend SG, ALB, node rule); a second backend whose NodePort
repacks the node rule (``--max-port-ranges-per-source=1``); an NLB Service being deleted; custom SGs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.aws.api import AwsApi
from controller.config import ControllerSettings, parse_config
from controller.finalizers import SERVICE_FINALIZER
from controller.plan.changes import build_plan
from controller.plan.cluster_view import ClusterView
from controller.plan.dry_run import PlannedCall, is_planned_id
from controller.plan.planner import Planner, PlanOutcome
from controller.sandbox.cluster import create_node_security_group, launch_nodes, node_object
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

WEB_PORT = 30080
API_PORT = 30090
EDGE_PORT = 31000
INBOUND = "alb.ingress.kubernetes.io/inbound-cidrs"


@dataclass(frozen=True)
class World:
    vpc: SandboxVpc
    node_sg: str
    nodes: tuple[dict[str, Any], ...]


@pytest.fixture
async def world(aws_api: AwsApi, sandbox_vpc: SandboxVpc) -> World:
    node_sg = await create_node_security_group(aws_api, sandbox_vpc)
    nodes = await launch_nodes(aws_api, sandbox_vpc, node_sg, 2)
    return World(sandbox_vpc, node_sg, tuple(node_object(n) for n in nodes))


def settings(world: World, *flags: str) -> ControllerSettings:
    return parse_config(
        [f"--cluster-name={world.vpc.cluster_name}", f"--aws-vpc-id={world.vpc.vpc_id}", *flags]
    )


def node_port_service(name: str, node_port: int, *, uid: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", "uid": uid or f"uid-{name}"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": node_port}],
        },
    }


def ingress(backends: Mapping[str, str], annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    paths = [
        {"path": path, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": 80}}}}
        for path, svc in backends.items()
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "front",
            "namespace": "shop",
            "uid": "uid-front",
            "finalizers": ["ingress.k8s.aws/resources"],
            "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing", **(annotations or {})},
        },
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": paths}}]},
    }


def nlb_service(*, deleting: bool = False) -> dict[str, Any]:
    service = node_port_service("edge", EDGE_PORT)
    service["spec"]["type"] = "LoadBalancer"
    service["spec"]["loadBalancerClass"] = "service.k8s.aws/nlb"
    service["metadata"]["annotations"] = {
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"
    }
    service["metadata"]["finalizers"] = [SERVICE_FINALIZER]
    if deleting:
        service["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return service


def view(world: World, *objects: dict[str, Any], tgbs: tuple[dict[str, Any], ...] = ()) -> ClusterView:
    ingress_class = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "alb"},
        "spec": {"controller": "ingress.k8s.aws/alb"},
    }
    return ClusterView().layered([ingress_class, *world.nodes, *objects, *tgbs])


PLAN_POLICY = Path(__file__).resolve().parents[3] / "config" / "iam" / "plan_policy.json"
_SERVICES = {"ec2": "ec2", "elbv2": "elasticloadbalancing"}


def plan_policy_actions() -> set[str]:
    document = json.loads(PLAN_POLICY.read_text())
    return {action for statement in document["Statement"] for action in statement["Action"]}


def test_the_plan_policy_only_reads() -> None:
    assert all(action.split(":", 1)[1].startswith("Describe") for action in plan_policy_actions())


async def plan_of(
    config: ControllerSettings, aws: AwsApi, world: World, cluster: ClusterView, proxy: AwsProxy
) -> PlanOutcome:
    """The plan; every AWS operation it sent is a read that ``plan_policy.json`` allows."""
    mark = len(proxy.request_log)
    outcome = await Planner(config, aws, vpc_id=world.vpc.vpc_id).plan(cluster)
    sent = {f"{_SERVICES[r.service]}:{r.operation}" for r in proxy.request_log[mark:]}
    assert sent <= plan_policy_actions(), sent - plan_policy_actions()
    return outcome


def _substitute(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


async def replay(aws: AwsApi, calls: tuple[PlannedCall, ...]) -> dict[str, str]:
    """Send the recorded calls in order, as the controller would have; planned id → real id."""
    ids: dict[str, str] = {}
    for call in calls:
        answer = await aws.call(
            call.service, call.operation, **_substitute(copy.deepcopy(dict(call.params)), ids)
        )
        if call.result_id is not None:
            created = {
                "CreateSecurityGroup": lambda a: a["GroupId"],
                "CreateLoadBalancer": lambda a: a["LoadBalancers"][0]["LoadBalancerArn"],
                "CreateTargetGroup": lambda a: a["TargetGroups"][0]["TargetGroupArn"],
                "CreateListener": lambda a: a["Listeners"][0]["ListenerArn"],
                "CreateRule": lambda a: a["Rules"][0]["RuleArn"],
            }[call.operation](answer)
            ids[call.result_id] = str(created)
    return ids


def rendered_tgbs(outcome: PlanOutcome, ids: Mapping[str, str]) -> tuple[dict[str, Any], ...]:
    """The TargetGroupBindings the deploy rendered, as the controller writes them (real ARNs)."""
    return tuple(_substitute(dict(tgb), ids) for tgb in outcome.rendered_bindings)


def mutating(proxy: AwsProxy, since: int) -> list[str]:
    return [r.operation for r in proxy.request_log[since:] if not r.operation.startswith("Describe")]


def ops(calls: tuple[PlannedCall, ...]) -> list[str]:
    return [c.operation for c in calls]


async def converge(
    aws: AwsApi,
    proxy: AwsProxy,
    config: ControllerSettings,
    world: World,
    *objects: dict[str, Any],
    tgbs: tuple[dict[str, Any], ...] = (),
) -> tuple[dict[str, Any], ...]:
    """Plan and replay until nothing is left; returns the TGBs as they now are in the cluster."""
    planner = await plan_of(config, aws, world, view(world, *objects, tgbs=tgbs), proxy)
    ids = await replay(aws, planner.calls)
    bindings = rendered_tgbs(planner, ids)
    again = await plan_of(config, aws, world, view(world, *objects, tgbs=bindings), proxy)
    assert ops(again.calls) == [], again.calls
    return bindings


# ----------------------------------------------------------------------------------------------------


async def test_a_new_ingress_is_planned_whole_and_nothing_is_sent(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    config = settings(world)
    cluster = view(world, node_port_service("web", WEB_PORT), ingress({"/": "web"}, {INBOUND: "10.0.0.0/8"}))
    mark = len(aws_proxy.request_log)
    outcome = await plan_of(config, aws_api, world, cluster, aws_proxy)
    assert mutating(aws_proxy, mark) == []
    assert sorted(ops(outcome.calls)) == sorted(
        [
            "CreateSecurityGroup",  # managed
            "AuthorizeSecurityGroupIngress",  # 80 from 10.0.0.0/8
            "CreateSecurityGroup",  # backend
            "CreateTargetGroup",
            "CreateLoadBalancer",
            "CreateListener",
            "CreateRule",
            "AuthorizeSecurityGroupIngress",  # the NodePort on the node SG
            "RegisterTargets",  # both nodes on the NodePort
        ]
    )
    plan = build_plan(outcome)
    [node] = [sg for sg in plan.security_groups if sg.group_id == world.node_sg]
    assert [(r.protocol, r.from_port, r.to_port) for r in node.authorize] == [("tcp", WEB_PORT, WEB_PORT)]
    assert is_planned_id(node.authorize[0].source.group_id)  # type: ignore[union-attr]
    [lb] = [r for r in plan.resources if r.kind == "load-balancer"]
    assert lb.action == "create" and "security groups: [k8s-shop-front-" in " ".join(lb.details)
    [tg] = [r for r in plan.resources if r.kind == "target-group"]
    assert tg.operations == ("CreateTargetGroup", "RegisterTargets") and len(tg.details) == 3  # + 2 targets
    # Replayed in order, the recorded calls are the whole change: nothing is left to plan.
    await converge(
        aws_api, aws_proxy, config, world, node_port_service("web", WEB_PORT), ingress({"/": "web"})
    )


async def test_a_new_node_port_repacks_the_node_rule_and_says_which_ports_open(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    config = settings(world, "--max-port-ranges-per-source=1")
    web, api = node_port_service("web", WEB_PORT), node_port_service("api", API_PORT)
    tgbs = await converge(aws_api, aws_proxy, config, world, web, api, ingress({"/": "web"}))
    planner = await plan_of(
        config,
        aws_api,
        world,
        view(world, web, api, ingress({"/": "web", "/api": "api"}), tgbs=tgbs),
        aws_proxy,
    )
    plan = build_plan(planner)
    [node] = [sg for sg in plan.security_groups if sg.group_id == world.node_sg]
    assert [(r.from_port, r.to_port) for r in node.authorize] == [(WEB_PORT, API_PORT)]
    assert [(r.from_port, r.to_port) for r in node.revoke] == [(WEB_PORT, WEB_PORT)]
    [delta] = node.ports
    assert (delta.opened, delta.closed, delta.replaced) == (((WEB_PORT + 1, API_PORT),), (), True)


async def test_a_service_being_deleted_plans_its_whole_stack_away(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    config = settings(world)
    tgbs = await converge(aws_api, aws_proxy, config, world, nlb_service())
    planner = await plan_of(
        config, aws_api, world, view(world, nlb_service(deleting=True), tgbs=tgbs), aws_proxy
    )
    plan = build_plan(planner)
    deleted = {r.kind for r in plan.resources if r.action == "delete"}
    assert deleted == {"load-balancer", "target-group"}
    actions = {sg.name.split("-")[1]: sg.action for sg in plan.security_groups if sg.action == "delete"}
    assert actions == {"shop": "delete", "traffic": "delete"}  # the managed and the unused backend SG
    [node] = [sg for sg in plan.security_groups if sg.group_id == world.node_sg]
    assert [(r.from_port, r.to_port) for r in node.revoke] == [(EDGE_PORT, EDGE_PORT)] and not node.authorize


async def test_custom_security_groups_are_attached_and_the_managed_one_goes(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    config = settings(world)
    web = node_port_service("web", WEB_PORT)
    tgbs = await converge(aws_api, aws_proxy, config, world, web, ingress({"/": "web"}))
    custom = await aws_api.call(
        "ec2", "CreateSecurityGroup", GroupName="custom", Description="mine", VpcId=world.vpc.vpc_id
    )
    annotations = {"alb.ingress.kubernetes.io/security-groups": custom["GroupId"]}
    planner = await plan_of(
        config, aws_api, world, view(world, web, ingress({"/": "web"}, annotations), tgbs=tgbs), aws_proxy
    )
    plan = build_plan(planner)
    [lb] = [r for r in plan.resources if r.kind == "load-balancer"]
    assert lb.action == "update" and lb.operations == ("SetSecurityGroups",)
    assert lb.details[0].endswith(f"-> [{custom['GroupId']} (custom)]"), lb.details
    assert sorted(sg.action for sg in plan.security_groups) == ["delete", "delete", "update"]


async def test_a_service_only_in_a_manifest_gets_a_note_about_its_names(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    manifest_only = nlb_service()
    del manifest_only["metadata"]["uid"]
    outcome = await plan_of(settings(world), aws_api, world, view(world, manifest_only), aws_proxy)
    assert [n.subject for n in outcome.notes] == ["service shop/edge"]
    assert "known after apply" in outcome.notes[0].message


async def test_a_binding_being_deleted_deregisters_its_targets(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    created = await aws_api.call(
        "elbv2",
        "CreateTargetGroup",
        Name="mine",
        Protocol="HTTP",
        Port=80,
        VpcId=world.vpc.vpc_id,
        TargetType="instance",
    )
    tg_arn = created["TargetGroups"][0]["TargetGroupArn"]
    instance = world.nodes[0]["spec"]["providerID"].rsplit("/", 1)[1]
    await aws_api.call(
        "elbv2", "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": instance, "Port": WEB_PORT}]
    )
    binding = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {
            "name": "mine",
            "namespace": "shop",
            "finalizers": ["elbv2.k8s.aws/resources"],
            "deletionTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "targetGroupARN": tg_arn,
            "targetType": "instance",
            "serviceRef": {"name": "web", "port": 80},
        },
    }
    cluster = view(world, node_port_service("web", WEB_PORT), tgbs=(binding,))
    outcome = await plan_of(settings(world), aws_api, world, cluster, aws_proxy)
    assert [(c.operation, c.params["Targets"]) for c in outcome.calls] == [
        ("DeregisterTargets", [{"Id": instance, "Port": WEB_PORT}])
    ]


async def test_rules_elsewhere_naming_a_deleted_managed_sg_are_revoked_as_the_hook_would(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    # Without the backend SG, the NLB's own SG is the source of the node rules; a rule of ours on an
    # SG the controller does not track (not cluster-tagged) names it too.
    config = settings(world, "--enable-backend-security-group=false")
    tgbs = await converge(aws_api, aws_proxy, config, world, nlb_service())
    [managed] = await aws_api.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "tag:service.k8s.aws/stack", "Values": ["shop/edge"]}],
    )
    other = await aws_api.call(
        "ec2", "CreateSecurityGroup", GroupName="other", Description="o", VpcId=world.vpc.vpc_id
    )
    labelled = {"GroupId": managed["GroupId"], "Description": "elbv2.k8s.aws/targetGroupBinding=shared"}
    permission = {"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, "UserIdGroupPairs": [labelled]}
    await aws_api.call(
        "ec2", "AuthorizeSecurityGroupIngress", GroupId=other["GroupId"], IpPermissions=[permission]
    )
    outcome = await plan_of(
        config, aws_api, world, view(world, nlb_service(deleting=True), tgbs=tgbs), aws_proxy
    )
    revoked = {c.params["GroupId"] for c in outcome.calls if c.operation == "RevokeSecurityGroupIngress"}
    assert revoked == {world.node_sg, other["GroupId"]}


async def test_an_attachment_change_names_the_security_groups_before_and_after(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    config = settings(world)
    web = node_port_service("web", WEB_PORT)
    first, second = [
        (
            await aws_api.call(
                "ec2", "CreateSecurityGroup", GroupName=n, Description=n, VpcId=world.vpc.vpc_id
            )
        )["GroupId"]
        for n in ("first", "second")
    ]
    custom = "alb.ingress.kubernetes.io/security-groups"
    tgbs = await converge(aws_api, aws_proxy, config, world, web, ingress({"/": "web"}, {custom: first}))
    changed = view(world, web, ingress({"/": "web"}, {custom: second}), tgbs=tgbs)
    plan = build_plan(await plan_of(config, aws_api, world, changed, aws_proxy))
    [lb] = [r for r in plan.resources if r.kind == "load-balancer"]
    assert lb.details == (f"security groups: [{first} (first)] -> [{second} (second)]",)


async def test_ingress_class_params_shape_the_plan_as_they_shape_the_controller(
    aws_api: AwsApi, aws_proxy: AwsProxy, world: World
) -> None:
    """The class's IngressClassParams (read with the Namespaces, as the controller) win over the
    Ingress's annotations: their load balancer name and inbound CIDRs are what the plan creates."""
    params = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "p"},
        "spec": {
            "loadBalancerName": "from-params",
            "inboundCIDRs": ["10.9.0.0/16"],
            "namespaceSelector": {"matchLabels": {"team": "shop"}},
        },
    }
    classed = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "alb-p"},
        "spec": {
            "controller": "ingress.k8s.aws/alb",
            "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "p"},
        },
    }
    shop = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "shop"}}}
    front = ingress(
        {"/": "web"}, {INBOUND: "10.0.0.0/8", "alb.ingress.kubernetes.io/load-balancer-name": "mine"}
    )
    front["spec"]["ingressClassName"] = "alb-p"
    cluster = view(world, params, classed, shop, node_port_service("web", WEB_PORT), front)

    outcome = await plan_of(settings(world), aws_api, world, cluster, aws_proxy)

    [create_lb] = [c for c in outcome.calls if c.operation == "CreateLoadBalancer"]
    assert create_lb.params["Name"] == "from-params"
    cidrs = [
        r["CidrIp"]
        for c in outcome.calls
        if c.operation == "AuthorizeSecurityGroupIngress"
        for p in c.params.get("IpPermissions", [])
        for r in p.get("IpRanges", [])
    ]
    assert cidrs == ["10.9.0.0/16"]
