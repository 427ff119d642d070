"""End to end: Ingress groups and the lifecycle of an ALB's managed frontend security group.

Drives the controller process only through the Kubernetes API and reads AWS (moto behind the
proxy). Upstream scenarios (upstream-behaviour §10) and design.md Differences covered:

* groups: 3 (explicit group SG name, group finalizer, one ALB), 14 (conflicting inbound-cidrs is a
  ``FailedBuildModel`` Warning on both members while other groups keep reconciling), 15 (only one
  member sets inbound-cidrs), 26 (same custom SGs in another order conflict), and a member leaving
  its group (group finalizer dropped, the group's ALB keeps serving the others);
* drift and switching: 6/7 (``--default-tags`` beat annotation tags; ``aws:`` tags untouched, stray
  tags removed), 53 (a hand-made rule on the managed SG is revoked, authorize before revoke), 51
  (switching to a custom SG detaches the managed SG from the LB before deleting it);
* 52 / design.md Difference 6: a managed SG still referenced by someone else's rule blocks only its own Ingress's
  deletion, as a requeue, while the single worker keeps serving other Ingresses;
* 12/13 / design.md Difference 8: IPv6-only inbound CIDRs on an ipv4 ALB open nothing and say so in a Warning;
  a prefix list alone is the only source of its port's rule.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterable
from functools import partial
from typing import Any

from e2e_harness import (
    RunningController,
    StartController,
    controller_log_on_failure,
    delete_and_wait_gone,
    eventually,
)
from e2e_objects import (
    create_node_port_service,
    describe_security_group,
    ingress_manifest,
    ingress_rules,
    load_balancer_hostname,
    tags_of,
)

from controller.aws.client import AwsClient
from controller.finalizers import EXPLICIT_GROUP_FINALIZER_PREFIX, IMPLICIT_GROUP_FINALIZER
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy, RequestRecord
from framework.kube import INGRESSES, KubeApiError, KubeClient

GROUP_NAME_ANNOTATION = "alb.ingress.kubernetes.io/group.name"
INBOUND_CIDRS_ANNOTATION = "alb.ingress.kubernetes.io/inbound-cidrs"
SECURITY_GROUPS_ANNOTATION = "alb.ingress.kubernetes.io/security-groups"
SHARED_GROUP = "my-shared-group.prod"
SHARED_GROUP_FINALIZER = EXPLICIT_GROUP_FINALIZER_PREFIX + SHARED_GROUP


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _explicit_group_sg_name(cluster_name: str, group_name: str) -> str:
    """Reference §1.2, written out here so the test does not trust the product's own formula."""
    digest = hashlib.sha256((cluster_name + group_name).encode()).hexdigest()[:10]
    sanitized = "".join(c for c in group_name if c.isascii() and c.isalnum())
    return f"k8s-{sanitized[:17]}-{digest}"


async def _patch_annotations(
    kube: KubeClient, namespace: str, name: str, changes: dict[str, str | None]
) -> None:
    """JSON merge patch: a ``None`` value removes the annotation (no resourceVersion race)."""
    await kube.request(
        "PATCH",
        INGRESSES.object_path(name, namespace),
        body={"metadata": {"annotations": changes}},
        content_type="application/merge-patch+json",
    )


@contextlib.asynccontextmanager
async def _controller(start_controller: StartController, *flags: str) -> AsyncIterator[RunningController]:
    """The controller process; any failed assertion in the body also shows the log's tail."""
    async with start_controller(*flags) as running:
        with controller_log_on_failure(running):
            yield running


async def _wait_hostname(kube: KubeClient, namespace: str, name: str) -> str:
    return await eventually(
        lambda: load_balancer_hostname(kube, INGRESSES, namespace, name),
        what=f"an ALB hostname on {name}",
        within=90,
    )


async def _finalizers(kube: KubeClient, namespace: str, name: str) -> list[str]:
    ingress = await kube.get(INGRESSES, name, namespace)
    return [str(f) for f in ingress["metadata"].get("finalizers") or ()]


async def _load_balancer(aws: AwsClient, dns_name: str) -> dict[str, Any]:
    balancers = (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
    matching = [lb for lb in balancers if lb["DNSName"].lower() == dns_name.lower()]
    assert len(matching) == 1, (
        f"expected one LB named {dns_name}, found {[lb['DNSName'] for lb in balancers]}"
    )
    return dict(matching[0])


async def _load_balancer_count(aws: AwsClient) -> int:
    return len((await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"])


async def _create_sg(aws: AwsClient, vpc_id: str, name: str) -> str:
    created = await aws.call("ec2", "CreateSecurityGroup", GroupName=name, Description=name, VpcId=vpc_id)
    return str(created["GroupId"])


def _rule_sources(permissions: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """(port, source) for every single-source rule: IPv4, IPv6, prefix-list or security-group source."""
    rules: set[tuple[int, str]] = set()
    for permission in permissions:
        port = int(permission.get("FromPort", 0))
        rules |= {(port, r["CidrIp"]) for r in permission.get("IpRanges", [])}
        rules |= {(port, r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", [])}
        rules |= {(port, p["PrefixListId"]) for p in permission.get("PrefixListIds", [])}
        rules |= {(port, g["GroupId"]) for g in permission.get("UserIdGroupPairs", [])}
    return rules


async def _warning(
    kube: KubeClient, namespace: str, name: str, reason: str, needles: Iterable[str]
) -> dict[str, Any] | None:
    """A Warning event with ``reason`` on Ingress ``name`` whose note contains every needle."""
    wanted = list(needles)
    listed = await kube.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
    for event in listed.get("items", []):
        if (
            event.get("reason") == reason
            and event.get("type") == "Warning"
            and event["regarding"].get("name") == name
            and all(needle in event.get("note", "") for needle in wanted)
        ):
            return dict(event)
    return None


def _records_since(proxy: AwsProxy, start: int, operation: str) -> list[tuple[int, RequestRecord]]:
    return [(i, r) for i, r in enumerate(proxy.request_log) if i >= start and r.operation == operation]


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


def test_explicit_group_sg_name_formula_matches_the_reference_vector() -> None:
    """Scenario 3's vector pins the formula the end-to-end test below checks the real SG name with."""
    assert _explicit_group_sg_name("my-cluster", SHARED_GROUP) == "k8s-mysharedgroupprod-eb5b868a68"


async def test_explicit_group_shares_one_alb_conflicts_are_reported_and_members_can_leave(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 3, 14, 15, 26 and a member leaving its group."""
    vpc_id, cluster_name = cluster.vpc.vpc_id, cluster.vpc.cluster_name
    await create_node_port_service(kube, namespace, "web")
    custom_a = await _create_sg(aws_api, vpc_id, "custom-a")
    custom_b = await _create_sg(aws_api, vpc_id, "custom-b")
    members = {
        # Scenario 3 + 15: one explicit group; only alpha restricts port 80.
        "alpha": {GROUP_NAME_ANNOTATION: SHARED_GROUP, INBOUND_CIDRS_ANNOTATION: "10.0.0.0/8"},
        "beta": {GROUP_NAME_ANNOTATION: SHARED_GROUP},
        # Scenario 14: two members disagree on port 80's CIDRs.
        "clash-one": {GROUP_NAME_ANNOTATION: "clash", INBOUND_CIDRS_ANNOTATION: "10.0.0.0/8"},
        "clash-two": {GROUP_NAME_ANNOTATION: "clash", INBOUND_CIDRS_ANNOTATION: "172.16.0.0/12"},
        # Scenario 26: the same custom SGs in another order.
        "order-one": {GROUP_NAME_ANNOTATION: "order", SECURITY_GROUPS_ANNOTATION: f"{custom_a}, {custom_b}"},
        "order-two": {GROUP_NAME_ANNOTATION: "order", SECURITY_GROUPS_ANNOTATION: f"{custom_b}, {custom_a}"},
    }

    async with _controller(start_controller) as running:
        for name, annotations in members.items():
            await kube.create(INGRESSES, ingress_manifest(name, "web", annotations), namespace)

        group_dns = await _wait_hostname(kube, namespace, "alpha")
        assert await _wait_hostname(kube, namespace, "beta") == group_dns

        # Scenario 3: one ALB for the group, its managed SG named and tagged for the group.
        lb = await _load_balancer(aws_api, group_dns)
        managed_sg_id = lb["SecurityGroups"][0]
        managed_sg = await describe_security_group(aws_api, managed_sg_id)
        assert managed_sg is not None
        assert managed_sg["GroupName"] == _explicit_group_sg_name(cluster_name, SHARED_GROUP)
        assert tags_of(managed_sg)["ingress.k8s.aws/stack"] == SHARED_GROUP
        for name in ("alpha", "beta"):
            assert SHARED_GROUP_FINALIZER in await _finalizers(kube, namespace, name)
        # Scenario 15: beta sets no CIDRs, so it neither conflicts nor adds the 0.0.0.0/0 default.
        assert _rule_sources(await ingress_rules(aws_api, managed_sg_id)) == {(80, "10.0.0.0/8")}

        # Scenario 14: a Warning on both members naming the annotation and both values.
        cidr_needles = ("conflicting", INBOUND_CIDRS_ANNOTATION, "10.0.0.0/8", "172.16.0.0/12")
        for name in ("clash-one", "clash-two"):
            await eventually(
                partial(_warning, kube, namespace, name, "FailedBuildModel", cidr_needles),
                what=f"a FailedBuildModel inbound-cidrs conflict event on {name}",
            )
        # Scenario 26: the order of custom SGs matters.
        order_needles = (
            "conflicting",
            SECURITY_GROUPS_ANNOTATION,
            f"{custom_a}, {custom_b}",
            f"{custom_b}, {custom_a}",
        )
        for name in ("order-one", "order-two"):
            await eventually(
                partial(_warning, kube, namespace, name, "FailedBuildModel", order_needles),
                what=f"a FailedBuildModel securityGroups conflict event on {name}",
            )
        # The conflicting groups built nothing: the shared group's ALB is the only one.
        assert await _load_balancer_count(aws_api) == 1

        # Beta leaves the group (annotation removed) while the clash groups keep failing: it gets
        # its own ALB under its implicit group, and the shared group lets go of it.
        await _patch_annotations(kube, namespace, "beta", {GROUP_NAME_ANNOTATION: None})

        async def beta_moved() -> str | None:
            finalizers = await _finalizers(kube, namespace, "beta")
            assert finalizers == [IMPLICIT_GROUP_FINALIZER], f"beta finalizers: {finalizers}"
            hostname = await load_balancer_hostname(kube, INGRESSES, namespace, "beta")
            assert hostname and hostname != group_dns, f"beta hostname: {hostname}"
            return hostname

        beta_dns = await eventually(
            beta_moved, what="beta on its own ALB without the group finalizer", within=90
        )
        await _load_balancer(aws_api, beta_dns)
        # The group's ALB and SG still serve alpha, unchanged.
        assert await load_balancer_hostname(kube, INGRESSES, namespace, "alpha") == group_dns
        assert SHARED_GROUP_FINALIZER in await _finalizers(kube, namespace, "alpha")
        assert (await _load_balancer(aws_api, group_dns))["SecurityGroups"][0] == managed_sg_id
        listeners = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=lb["LoadBalancerArn"]))[
            "Listeners"
        ]
        assert [listener["Port"] for listener in listeners] == [80]
        assert _rule_sources(await ingress_rules(aws_api, managed_sg_id)) == {(80, "10.0.0.0/8")}

        await delete_and_wait_gone(kube, INGRESSES, namespace, members)
        assert await _load_balancer_count(aws_api) == 0
    assert running.process.returncode == 0, running.log()[-4000:]


async def test_managed_sg_drift_is_repaired_and_a_switch_to_custom_sg_detaches_before_deleting(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 6/7 (tags), 53 (hand-made rule revoked, authorize before revoke) and 51 (switch)."""
    await create_node_port_service(kube, namespace, "web")
    custom_sg_id = await _create_sg(aws_api, cluster.vpc.vpc_id, "custom-frontend")

    async with _controller(start_controller, "--default-tags=team=a") as running:
        await kube.create(
            INGRESSES,
            ingress_manifest(
                "shop",
                "web",
                {"alb.ingress.kubernetes.io/tags": "team=b", INBOUND_CIDRS_ANNOTATION: "10.0.0.0/8"},
            ),
            namespace,
        )
        dns_name = await _wait_hostname(kube, namespace, "shop")
        managed_sg_id = (await _load_balancer(aws_api, dns_name))["SecurityGroups"][0]
        managed_sg = await describe_security_group(aws_api, managed_sg_id)
        assert managed_sg is not None
        # Scenario 6: with default feature gates --default-tags win over the annotation.
        assert tags_of(managed_sg)["team"] == "a"

        # Drift made by hand: an AWS-owned tag (only AWS may set one), a stray tag and an extra
        # inbound rule.
        await aws_proxy.tag_as_aws(managed_sg_id, {"aws:cloudformation:stack-name": "by-hand"})
        await aws_api.call(
            "ec2", "CreateTags", Resources=[managed_sg_id], Tags=[{"Key": "foo", "Value": "bar"}]
        )
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=managed_sg_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "203.0.113.0/24"}],
                }
            ],
        )
        drift_start = len(aws_proxy.request_log)
        # The next reconcile, triggered by an annotation change that also needs a new rule.
        await _patch_annotations(
            kube, namespace, "shop", {INBOUND_CIDRS_ANNOTATION: "10.0.0.0/8, 192.168.0.0/16"}
        )

        async def repaired() -> bool | None:
            rules = _rule_sources(await ingress_rules(aws_api, managed_sg_id))
            assert rules == {(80, "10.0.0.0/8"), (80, "192.168.0.0/16")}, f"rules: {sorted(rules)}"
            return True

        await eventually(repaired, what="the managed SG's rules converged (hand-made rule revoked)")
        # Scenario 53 / design.md Difference 5: one authorize, then one revoke, on the managed SG.
        changes = [
            (index, record.operation)
            for operation in ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress")
            for index, record in _records_since(aws_proxy, drift_start, operation)
            if record.params.get("GroupId") == managed_sg_id
        ]
        assert [operation for _, operation in sorted(changes)] == [
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
        ], changes
        # Scenario 7: the stray tag is gone, the aws: tag is untouched, --default-tags still win.
        managed_sg = await describe_security_group(aws_api, managed_sg_id)
        assert managed_sg is not None
        tags = tags_of(managed_sg)
        assert "foo" not in tags
        assert tags["aws:cloudformation:stack-name"] == "by-hand"
        assert tags["team"] == "a"

        # Scenario 51: switch to a custom SG.
        switch_start = len(aws_proxy.request_log)
        await _patch_annotations(
            kube,
            namespace,
            "shop",
            {INBOUND_CIDRS_ANNOTATION: None, SECURITY_GROUPS_ANNOTATION: custom_sg_id},
        )

        async def switched() -> bool | None:
            attached = (await _load_balancer(aws_api, dns_name))["SecurityGroups"]
            assert attached == [custom_sg_id], f"LB security groups: {attached}"
            assert await describe_security_group(aws_api, managed_sg_id) is None, (
                "the old managed SG still exists"
            )
            return True

        await eventually(switched, what="the LB on the custom SG and the old managed SG deleted")
        set_calls = [
            index
            for index, record in _records_since(aws_proxy, switch_start, "SetSecurityGroups")
            if record.status == 200
        ]
        deletes = [
            index
            for index, record in _records_since(aws_proxy, switch_start, "DeleteSecurityGroup")
            if record.params.get("GroupId") == managed_sg_id
        ]
        assert set_calls and deletes, (set_calls, deletes)
        assert max(set_calls) < min(deletes), "the managed SG was deleted before the LB let go of it"
        assert [aws_proxy.request_log[i].outcome for i in deletes] == ["forwarded"]

        await delete_and_wait_gone(kube, INGRESSES, namespace, ["shop"])
        # A custom SG is the user's: never deleted.
        assert await describe_security_group(aws_api, custom_sg_id) is not None
    assert running.process.returncode == 0, running.log()[-4000:]


async def test_a_managed_sg_still_in_use_blocks_only_its_own_deletion(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenario 52 with design.md Difference 6, on a single Ingress worker."""
    await create_node_port_service(kube, namespace, "web")
    async with _controller(start_controller, "--ingress-max-concurrent-reconciles=1") as running:
        await kube.create(INGRESSES, ingress_manifest("stuck", "web", {}), namespace)
        dns_name = await _wait_hostname(kube, namespace, "stuck")
        managed_sg_id = (await _load_balancer(aws_api, dns_name))["SecurityGroups"][0]
        # Someone else's SG references the managed SG: AWS refuses to delete it.
        bastion_sg_id = await _create_sg(aws_api, cluster.vpc.vpc_id, "ops-bastion")
        manual_rule = {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "UserIdGroupPairs": [{"GroupId": managed_sg_id, "Description": "ops"}],
        }
        await aws_api.call(
            "ec2", "AuthorizeSecurityGroupIngress", GroupId=bastion_sg_id, IpPermissions=[manual_rule]
        )

        await kube.request("DELETE", INGRESSES.object_path("stuck", namespace))

        async def refused() -> bool | None:
            outcomes = [
                record.outcome
                for _, record in _records_since(aws_proxy, 0, "DeleteSecurityGroup")
                if record.params.get("GroupId") == managed_sg_id
            ]
            return True if "dependency" in outcomes else None

        await eventually(refused, what="DeleteSecurityGroup of the managed SG answered DependencyViolation")

        # The single worker is free: a new Ingress gets its ALB while the deletion waits.
        await kube.create(INGRESSES, ingress_manifest("fresh", "web", {}), namespace)
        await _wait_hostname(kube, namespace, "fresh")
        stuck = await kube.get(INGRESSES, "stuck", namespace)
        assert stuck["metadata"].get("deletionTimestamp")
        assert IMPLICIT_GROUP_FINALIZER in stuck["metadata"].get("finalizers", [])
        assert await describe_security_group(aws_api, managed_sg_id) is not None
        # The LB went first (reverse order); only the SG waits.
        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert dns_name not in [lb["DNSName"].lower() for lb in balancers]
        # The manual rule is not ours: the controller left it alone.
        assert (443, managed_sg_id) in _rule_sources(await ingress_rules(aws_api, bastion_sg_id))

        await aws_api.call(
            "ec2", "RevokeSecurityGroupIngress", GroupId=bastion_sg_id, IpPermissions=[manual_rule]
        )

        async def stuck_gone() -> bool | None:
            try:
                await kube.get(INGRESSES, "stuck", namespace)
            except KubeApiError as error:
                if error.status == 404:
                    return True
                raise
            return None

        await eventually(stuck_gone, what="the stuck Ingress deleted once the reference is gone", within=90)
        assert await describe_security_group(aws_api, managed_sg_id) is None

        await delete_and_wait_gone(kube, INGRESSES, namespace, ["fresh"])
    assert running.process.returncode == 0, running.log()[-4000:]


async def test_ipv6_only_cidrs_on_an_ipv4_alb_open_nothing_and_a_prefix_list_is_the_only_source(
    aws_api: AwsClient,
    kube: KubeClient,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 12 (with design.md Difference 8's Warning) and 13."""
    await create_node_port_service(kube, namespace, "web")
    created = await aws_api.call(
        "ec2",
        "CreateManagedPrefixList",
        PrefixListName="office",
        AddressFamily="IPv4",
        MaxEntries=5,
        Entries=[{"Cidr": "198.51.100.0/24", "Description": "office"}],
    )
    prefix_list_id = str(created["PrefixList"]["PrefixListId"])

    async with _controller(start_controller) as running:
        await kube.create(
            INGRESSES,
            ingress_manifest("v6only", "web", {INBOUND_CIDRS_ANNOTATION: "2001:db8::/32"}),
            namespace,
        )
        await kube.create(
            INGRESSES,
            ingress_manifest(
                "prefixed",
                "web",
                {
                    "alb.ingress.kubernetes.io/security-group-prefix-lists": prefix_list_id,
                    "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 443}]',
                },
            ),
            namespace,
        )
        v6_dns = await _wait_hostname(kube, namespace, "v6only")
        prefixed_dns = await _wait_hostname(kube, namespace, "prefixed")

        # Scenario 12: no rule at all for port 80 (neither the CIDR nor the 0.0.0.0/0 default) ...
        v6_lb = await _load_balancer(aws_api, v6_dns)
        assert v6_lb.get("IpAddressType", "ipv4") == "ipv4"
        assert await ingress_rules(aws_api, v6_lb["SecurityGroups"][0]) == []
        # ... and design.md Difference 8: the dropped CIDR is named in a Warning, not silently ignored.
        await eventually(
            partial(
                _warning,
                kube,
                namespace,
                "v6only",
                "ModelWarning",
                (INBOUND_CIDRS_ANNOTATION, "2001:db8::/32"),
            ),
            what="a Warning event naming the dropped IPv6 CIDR",
        )

        # Scenario 13: the prefix list is the only source of port 443.
        prefixed_lb = await _load_balancer(aws_api, prefixed_dns)
        permissions = await ingress_rules(aws_api, prefixed_lb["SecurityGroups"][0])
        assert _rule_sources(permissions) == {(443, prefix_list_id)}
        assert [(p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in permissions] == [("tcp", 443, 443)]

        await delete_and_wait_gone(kube, INGRESSES, namespace, ["v6only", "prefixed"])
    assert running.process.returncode == 0, running.log()[-4000:]
