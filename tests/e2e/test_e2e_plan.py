"""End to end: ``aws-lb-sg-controller plan`` lists exactly what the controller then does.

Each step runs ``plan`` as a user would (its own process, ``-f`` manifests, ``-o json``, the
controller's own kubeconfig and the AWS endpoint), checks that the proxy saw no mutating call while
it ran, then applies the change, waits until ``plan`` reports nothing left to do (exit 0), and
compares every mutating call the controller made in between (the proxy's request log) with the
plan, change by change: SGs created and deleted, rules authorized and revoked per SG, SG tags, load
balancers, target groups, listeners and rules created or deleted, SGs attached to load balancers,
targets registered and deregistered.

Steps, on one cluster: a new Ingress; an inbound-cidrs change; a second backend whose NodePort forces
a repack of the node SG rules (``--max-port-ranges-per-source=1``: one range per source, as upstream);
a deleted Service (planned while the controller is stopped, so the deletion waits on our finalizer);
a switch of the Ingress to a custom SG (its managed SG, its node rules and the unused backend SG go).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_harness import StartController, eventually
from e2e_objects import (
    MUTATING_PREFIXES,
    SECURITY_GROUPS,
    create_node_port_service,
    create_security_group,
    ingress_manifest,
    nlb_service_manifest,
)

from controller.aws.client import AwsClient
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy, RequestRecord
from controller.sandbox.seed import SANDBOX_REGION
from framework.kube import INGRESSES, MERGE_PATCH_CONTENT_TYPE, SERVICES, KubeClient

INBOUND_CIDRS = "alb.ingress.kubernetes.io/inbound-cidrs"
Change = tuple[Any, ...]
_MANIFEST_FILES = itertools.count(1)


# ---- running plan ------------------------------------------------------------------------------


async def run_plan(
    proxy: AwsProxy, cluster: SandboxCluster, kubeconfig: Path, *args: str
) -> tuple[int, dict[str, Any], str]:
    """``python -m controller plan ... -o json``: (exit code, the JSON plan, stderr)."""
    environment = dict(os.environ)
    environment.update(
        AWS_ENDPOINT_URL=proxy.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=SANDBOX_REGION,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller",
        "plan",
        f"--cluster-name={cluster.vpc.cluster_name}",
        f"--kubeconfig={kubeconfig}",
        f"--aws-vpc-id={cluster.vpc.vpc_id}",
        "--max-port-ranges-per-source=1",
        "-o",
        "json",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode in (0, 2), f"plan failed ({process.returncode}): {stderr.decode()}"
    return process.returncode, json.loads(stdout), stderr.decode()


async def planned(
    proxy: AwsProxy, cluster: SandboxCluster, kubeconfig: Path, manifests: list[dict[str, Any]], tmp: Path
) -> dict[str, Any]:
    """The plan for ``manifests`` over the cluster; asserts it changed nothing in AWS."""
    args: list[str] = []
    if manifests:
        path = tmp / f"manifests-{next(_MANIFEST_FILES)}.yaml"
        path.write_text(yaml.safe_dump_all(manifests))
        args = ["-f", str(path)]
    mark = len(proxy.request_log)
    code, plan, stderr = await run_plan(proxy, cluster, kubeconfig, *args)
    during = [r.operation for r in proxy.request_log[mark:] if r.operation.startswith(MUTATING_PREFIXES)]
    assert during == [], f"plan sent mutating calls: {during}"
    assert code == 2 and plan["changes"], f"the plan should list changes: {plan}\n{stderr}"
    assert plan["warnings"] == [], plan["warnings"]
    return plan


async def converged(proxy: AwsProxy, cluster: SandboxCluster, kubeconfig: Path) -> None:
    """Until ``plan`` finds nothing left to do (exit 0)."""

    async def nothing_to_do() -> bool | None:
        code, plan, _ = await run_plan(proxy, cluster, kubeconfig)
        assert code == 0, f"still planned: {plan['summary']} {[c['operation'] for c in plan['calls']]}"
        return True

    await eventually(nothing_to_do, what="plan to report no changes", within=90)


# ---- normalising both sides to the same changes -----------------------------------------------


def unflatten(params: Mapping[str, str]) -> dict[str, Any]:
    """AWS query parameters (``IpPermissions.1.Groups.1.GroupId``, ``SecurityGroups.member.1``) as
    nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in params.items():
        parts = [p for p in key.split(".") if p != "member"]
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            node = node.setdefault(part, value if last else {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(re.fullmatch(r"\d+", k) for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def elbv2_change(
    operation: str, params: Mapping[str, Any], lb_name: Mapping[str, str], sg_name: Mapping[str, str]
) -> Change:
    def lb(arn: Any) -> str:
        return lb_name.get(str(arn), str(arn))

    def sgs(ids: Any) -> tuple[str, ...]:
        return tuple(sorted(sg_name.get(str(g), str(g)) for g in _listed(ids)))

    if operation == "CreateLoadBalancer":
        return (operation, params["Name"], sgs(params.get("SecurityGroups")))
    if operation == "SetSecurityGroups":
        return (operation, lb(params["LoadBalancerArn"]), sgs(params.get("SecurityGroups")))
    if operation == "CreateTargetGroup":
        return (operation, params["Name"], int(params["Port"]))
    if operation == "CreateListener":
        return (operation, lb(params["LoadBalancerArn"]), int(params["Port"]))
    if operation == "CreateRule":
        return (operation, int(params["Priority"]))
    if operation in ("RegisterTargets", "DeregisterTargets"):
        targets = tuple(sorted((str(t["Id"]), int(t["Port"])) for t in _listed(params.get("Targets"))))
        return (operation, targets)
    for key in ("LoadBalancerArn", "TargetGroupArn", "ListenerArn", "RuleArn"):
        if key in params:
            return (operation, lb(params[key]))
    return (operation,)


def _rules(
    verb: str, group: str, permissions: Any, sg_name: Mapping[str, str], pairs_key: str
) -> list[Change]:
    changes: list[Change] = []
    for permission in _listed(permissions):
        key = (
            verb,
            group,
            permission["IpProtocol"],
            _int(permission.get("FromPort")),
            _int(permission.get("ToPort")),
        )
        sources = [r["CidrIp"] for r in _listed(permission.get("IpRanges"))]
        sources += [r["CidrIpv6"] for r in _listed(permission.get("Ipv6Ranges"))]
        sources += [p["PrefixListId"] for p in _listed(permission.get("PrefixListIds"))]
        sources += [sg_name.get(p["GroupId"], p["GroupId"]) for p in _listed(permission.get(pairs_key))]
        changes += [(*key, source) for source in sources]
    return changes


def logged_changes(
    records: list[RequestRecord], sg_name: Mapping[str, str], lb_name: Mapping[str, str]
) -> Counter[Change]:
    """What the controller did: every successful mutating call, one entry per rule and tag."""
    changes: Counter[Change] = Counter()
    for record in records:
        if record.status != 200 or not record.operation.startswith(MUTATING_PREFIXES):
            continue
        p = unflatten(record.params)
        op = record.operation
        if record.service == "elbv2":
            changes[elbv2_change(op, p, lb_name, sg_name)] += 1
        elif op == "CreateSecurityGroup":
            changes[("create-sg", p["GroupName"])] += 1
            for spec in _listed(p.get("TagSpecification")):
                changes.update(
                    ("tag", p["GroupName"], t["Key"], t.get("Value", "")) for t in _listed(spec.get("Tag"))
                )
        elif op == "DeleteSecurityGroup":
            changes[("delete-sg", sg_name[p["GroupId"]])] += 1
        elif op in ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"):
            verb = "authorize" if op.startswith("Authorize") else "revoke"
            changes.update(_rules(verb, sg_name[p["GroupId"]], p.get("IpPermissions"), sg_name, "Groups"))
        elif op in ("CreateTags", "DeleteTags"):
            for resource in _listed(p.get("ResourceId")):
                for tag in _listed(p.get("Tag")):
                    if op == "CreateTags":
                        changes[("tag", sg_name[resource], tag["Key"], tag.get("Value", ""))] += 1
                    else:
                        changes[("untag", sg_name[resource], tag["Key"])] += 1
        else:
            changes[(op,)] += 1
    return changes


def planned_changes(plan: dict[str, Any], lb_name: Mapping[str, str]) -> Counter[Change]:
    """What the plan listed, in the same form."""
    sg_name = dict(plan["security_group_names"])
    names = dict(lb_name)
    for call in plan["calls"]:
        if call["operation"] == "CreateLoadBalancer":
            names[call["result_id"]] = call["params"]["Name"]
    changes: Counter[Change] = Counter()
    for sg in plan["security_groups"]:
        name = sg["name"]
        if sg["action"] in ("create", "delete"):
            changes[(f"{sg['action']}-sg", name)] += 1
        changes.update(("tag", name, key, value) for key, value in sg["tags"]["set"].items())
        changes.update(("untag", name, key) for key in sg["tags"]["remove"])
        for verb in ("authorize", "revoke"):
            for rule in sg["rules"][verb]:
                source = rule["source"]
                shown = source.get("security_group_name") or next(iter(source.values()))
                changes[(verb, name, rule["protocol"], rule["from_port"], rule["to_port"], shown)] += 1
    for call in plan["calls"]:
        if call["service"] == "elbv2":
            changes[elbv2_change(call["operation"], call["params"], names, sg_name)] += 1
    return changes


async def sg_names(aws: AwsClient, vpc_id: str) -> dict[str, str]:
    groups = await aws.paginate(
        "ec2", "DescribeSecurityGroups", "SecurityGroups", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )
    return {str(g["GroupId"]): str(g["GroupName"]) for g in groups}


async def lb_names(aws: AwsClient) -> dict[str, str]:
    balancers = await aws.paginate("elbv2", "DescribeLoadBalancers", "LoadBalancers")
    return {str(lb["LoadBalancerArn"]): str(lb["LoadBalancerName"]) for lb in balancers}


class Recorder:
    """The AWS names known so far (deleted SGs and LBs keep theirs) and the request-log mark."""

    def __init__(self, aws: AwsClient, proxy: AwsProxy, vpc_id: str) -> None:
        self.aws, self.proxy, self.vpc_id = aws, proxy, vpc_id
        self.sgs: dict[str, str] = {}
        self.lbs: dict[str, str] = {}
        self.mark = 0

    async def refresh(self) -> None:
        self.sgs.update(await sg_names(self.aws, self.vpc_id))
        self.lbs.update(await lb_names(self.aws))

    async def start(self) -> None:
        await self.refresh()
        self.mark = len(self.proxy.request_log)

    async def done(self) -> Counter[Change]:
        await self.refresh()
        return logged_changes(self.proxy.request_log[self.mark :], self.sgs, self.lbs)


def transient(did: Counter[Change]) -> Counter[Change]:
    """Rules the controller authorized and revoked again within one step (or the other way round).

    When one apply changes several bindings of a stack (an Ingress with two backends switching to
    custom SGs), each binding publishes on its own and the node SG may be repacked in between:
    narrowing a range authorizes the narrower one first (never a window without access), and the
    next publish revokes it. The plan lists the end state; these pairs cancel out.
    """
    pairs: Counter[Change] = Counter()
    for change, count in did.items():
        if change[0] == "authorize":
            revoked = ("revoke", *change[1:])
            both = min(count, did[revoked])
            if both:
                pairs[change] += both
                pairs[revoked] += both
    return pairs


def assert_same(plan: dict[str, Any], did: Counter[Change], recorder: Recorder, step: str) -> Counter[Change]:
    """The plan lists exactly the controller's changes, but for transient pairs; returns those."""
    listed = planned_changes(plan, recorder.lbs)
    passing = transient(did) - transient(listed)
    net = did - passing
    assert listed == net, (
        f"{step}: plan and controller differ\n"
        f"  planned only:    {sorted(map(str, (listed - net).elements()))}\n"
        f"  controller only: {sorted(map(str, (net - listed).elements()))}"
    )
    return passing


# ---- the test ----------------------------------------------------------------------------------


def _with_namespace(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}


def _two_backends(ingress: dict[str, Any], second: str) -> dict[str, Any]:
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    extra = {
        "path": "/api",
        "pathType": "Prefix",
        "backend": {"service": {"name": second, "port": {"number": 80}}},
    }
    rules = [{"http": {"paths": [extra, *paths]}}]
    return {**ingress, "spec": {**ingress["spec"], "rules": rules}}


# Five steps, each with a few plan processes (one per poll until converged) and two controller starts.
@pytest.mark.timeout(480)
async def test_plan_lists_exactly_what_the_controller_then_does(
    start_controller: StartController,
    kube: KubeClient,
    aws_api: AwsClient,
    aws_proxy: AwsProxy,
    cluster: SandboxCluster,
    namespace: str,
    controller_identity: Path,
    tmp_path: Path,
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    recorder = Recorder(aws_api, aws_proxy, cluster.vpc.vpc_id)

    async def apply(manifest: dict[str, Any]) -> None:
        """What ``kubectl apply`` changes here: annotations and spec (finalizers stay)."""
        resource = INGRESSES if manifest["kind"] == "Ingress" else SERVICES
        patch = {"metadata": {"annotations": manifest["metadata"]["annotations"]}, "spec": manifest["spec"]}
        path = resource.object_path(manifest["metadata"]["name"], namespace)
        await kube.request("PATCH", path, body=patch, content_type=MERGE_PATCH_CONTENT_TYPE)

    web_port = await create_node_port_service(kube, namespace, "web")
    api_port = await create_node_port_service(kube, namespace, "api")
    ingress = _with_namespace(ingress_manifest("shop", "web", {INBOUND_CIDRS: "10.0.0.0/8"}), namespace)

    async with start_controller("--max-port-ranges-per-source=1"):
        await converged(aws_proxy, cluster, controller_identity)

        # 1. A new Ingress: its managed SG, the backend SG, the ALB and the NodePort on the node SG.
        await recorder.start()
        plan = await planned(aws_proxy, cluster, controller_identity, [ingress], plans)
        await kube.create(INGRESSES, ingress, namespace)
        await converged(aws_proxy, cluster, controller_identity)
        did = await recorder.done()
        assert not assert_same(plan, did, recorder, "new Ingress")
        node_sg = recorder.sgs[cluster.node_security_group_id]
        assert any(c[:2] == ("authorize", node_sg) and c[3] == web_port for c in did), did

        # 2. inbound-cidrs changes: one rule authorized, one revoked on the managed SG.
        ingress = _with_namespace(
            ingress_manifest("shop", "web", {INBOUND_CIDRS: "192.168.0.0/16"}), namespace
        )
        await recorder.start()
        plan = await planned(aws_proxy, cluster, controller_identity, [ingress], plans)
        await apply(ingress)
        await converged(aws_proxy, cluster, controller_identity)
        did = await recorder.done()
        assert not assert_same(plan, did, recorder, "inbound-cidrs change")
        assert {c[0] for c in did if c[0] in ("authorize", "revoke")} == {"authorize", "revoke"}

        # 3. A second backend: its NodePort widens the one range per source (a repack).
        ingress = _two_backends(ingress, "api")
        await recorder.start()
        plan = await planned(aws_proxy, cluster, controller_identity, [ingress], plans)
        await apply(ingress)
        await converged(aws_proxy, cluster, controller_identity)
        did = await recorder.done()
        assert not assert_same(plan, did, recorder, "new NodePort (repack)")
        low, high = sorted((web_port, api_port))
        assert any(c[:2] == ("authorize", node_sg) and c[3:5] == (low, high) for c in did), did
        assert any(c[:2] == ("revoke", node_sg) and c[3:5] == (web_port, web_port) for c in did), did
        [node_plan] = [sg for sg in plan["security_groups"] if sg["name"] == node_sg]
        opened = [d for d in node_plan["ports"] if d["protocol"] == "tcp"]
        assert opened and opened[0]["closed"] == [], node_plan["ports"]

        # An NLB Service, to be deleted in step 4.
        await kube.create(SERVICES, _with_namespace(nlb_service_manifest("edge"), namespace), namespace)
        await converged(aws_proxy, cluster, controller_identity)

    # 4. A deleted Service: planned while the controller is stopped (our finalizer holds the Service).
    await kube.request("DELETE", SERVICES.object_path("edge", namespace))
    await recorder.start()
    plan = await planned(aws_proxy, cluster, controller_identity, [], plans)
    async with start_controller("--max-port-ranges-per-source=1", log_name="controller-2"):
        await converged(aws_proxy, cluster, controller_identity)
        did = await recorder.done()
        assert not assert_same(plan, did, recorder, "deleted Service")
        assert any(c[0] == "DeleteLoadBalancer" for c in did) and any(c[0] == "delete-sg" for c in did), did

        # 5. Custom SGs: attached instead of the managed SG, which goes with the node rules and
        # the backend SG nobody uses any more.
        custom = await create_security_group(aws_api, cluster.vpc.vpc_id, "shop-custom", {})
        ingress = {
            **ingress,
            "metadata": {
                **ingress["metadata"],
                "annotations": {**ingress["metadata"]["annotations"], SECURITY_GROUPS: custom},
            },
        }
        await recorder.start()
        plan = await planned(aws_proxy, cluster, controller_identity, [ingress], plans)
        await apply(ingress)
        await converged(aws_proxy, cluster, controller_identity)
        did = await recorder.done()
        passing = assert_same(plan, did, recorder, "custom security groups")
        # Two bindings lose their networking one after the other: at most a transient node rule.
        assert all(c[1] == node_sg and c[0] in ("authorize", "revoke") for c in passing), passing
        assert any(c[0] == "SetSecurityGroups" and c[2] == ("shop-custom",) for c in did), did
        assert sum(1 for c in did if c[0] == "delete-sg") == 2, did  # the managed and the backend SG
