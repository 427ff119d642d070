"""Instance TGBs: node targets on the NodePort, node SG rules (scenarios 36, 46), node churn, deletion."""

from __future__ import annotations

from typing import Any

import pytest
from tgb_harness import NAMESPACE, Harness

from controller.endpointsg.model import EndpointRule, PortRange, Source
from controller.finalizers import TGB_FINALIZER
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from controller.targetgroupbinding.endpoints import EXCLUDE_FROM_LB_LABEL
from framework import objects
from framework.kube import NODES, KubeApiError


def from_sg(group_id: str, *ports: int) -> dict[str, Any]:
    return {
        "ingress": [
            {
                "from": [{"securityGroup": {"groupID": group_id}}],
                "ports": [{"protocol": "TCP", "port": p} for p in ports],
            }
        ]
    }


def tcp_rule(port: int, source_sg: str) -> EndpointRule:
    return EndpointRule("tcp", PortRange.single(port), Source.security_group(source_sg))


async def test_instance_binding_registers_nodes_opens_the_node_port_and_cleans_up(harness: Harness) -> None:
    backend_sg = await harness.security_group("backend")
    node_sg = await harness.security_group("node")
    ready_1 = await harness.instance(node_sg)
    ready_2 = await harness.instance(node_sg)
    await harness.create_node("node-1", ready_1)
    await harness.create_node("node-2", ready_2)
    await harness.create_node("not-ready", await harness.instance(node_sg), ready=False)
    await harness.create_node("excluded", await harness.instance(node_sg), labels={EXCLUDE_FROM_LB_LABEL: ""})
    await harness.create_service("web", [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31223}])
    arn = await harness.target_group("web-tg", "instance")
    await harness.create_binding(
        "web", arn=arn, target_type="instance", service="web", port=80, networking=from_sg(backend_sg, 31223)
    )
    await harness.start()

    # Scenario 36: node targets on the NodePort; tcp 31223 from the backend SG on the node SG.
    async def converged() -> None:
        assert await harness.targets(arn) == {(ready_1, 31223), (ready_2, 31223)}
        assert await harness.labelled_rules(node_sg) == {tcp_rule(31223, backend_sg)}
        binding = await harness.binding("web")
        assert TGB_FINALIZER in binding["metadata"]["finalizers"]
        assert binding["status"]["observedGeneration"] == binding["metadata"]["generation"]

    await harness.eventually(converged, "node targets and the node SG rule")

    # A node joins, another leaves.
    joined = await harness.instance(node_sg)
    await harness.create_node("node-3", joined)
    await harness.client.request("DELETE", NODES.object_path("node-1"))

    async def churned() -> None:
        assert await harness.targets(arn) == {(ready_2, 31223), (joined, 31223)}

    await harness.eventually(churned, "targets to follow node churn")

    # Deleted: targets deregistered, the rule revoked, the finalizer removed (the object goes away).
    await objects.delete(harness.client, TARGET_GROUP_BINDINGS, "web", NAMESPACE)

    async def cleaned() -> None:
        assert await harness.targets(arn) == set()
        assert await harness.labelled_rules(node_sg) == set()
        with pytest.raises(KubeApiError) as gone:
            await harness.binding("web")
        assert gone.value.is_not_found

    await harness.eventually(cleaned, "cleanup after deletion")
    errors = harness.registry.get_sample_value(
        "awslbc_controller_reconcile_errors_total",
        {"controller": "targetGroupBinding", "error_category": "reconcile_targetgroupbinding_error"},
    )
    assert errors is None


async def test_deleting_one_binding_revokes_only_the_rules_nobody_else_needs(harness: Harness) -> None:
    """Scenario 46."""
    backend_sg = await harness.security_group("backend")
    node_sg = await harness.security_group("node")
    instance = await harness.instance(node_sg)
    await harness.create_node("node-1", instance)
    await harness.create_service(
        "web",
        [
            {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31223},
            {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 31300},
        ],
    )
    http_arn = await harness.target_group("web-http", "instance")
    https_arn = await harness.target_group("web-https", "instance", port=443)
    await harness.create_binding(
        "web-http",
        arn=http_arn,
        target_type="instance",
        service="web",
        port=80,
        networking=from_sg(backend_sg, 31223),
    )
    await harness.create_binding(
        "web-https",
        arn=https_arn,
        target_type="instance",
        service="web",
        port="https",
        networking=from_sg(backend_sg, 31300),
    )
    await harness.start()

    async def both() -> None:
        assert await harness.targets(http_arn) == {(instance, 31223)}
        assert await harness.targets(https_arn) == {(instance, 31300)}
        assert await harness.labelled_rules(node_sg) == {
            tcp_rule(31223, backend_sg),
            tcp_rule(31300, backend_sg),
        }

    await harness.eventually(both, "both bindings converged")
    await objects.delete(harness.client, TARGET_GROUP_BINDINGS, "web-http", NAMESPACE)

    async def one_left() -> None:
        assert await harness.targets(http_arn) == set()
        assert await harness.targets(https_arn) == {(instance, 31300)}
        assert await harness.labelled_rules(node_sg) == {tcp_rule(31300, backend_sg)}
        with pytest.raises(KubeApiError):
            await harness.binding("web-http")

    await harness.eventually(one_left, "the deleted binding's rule revoked, the other's kept")


async def test_instance_networking_error_fails_the_reconcile(harness: Harness) -> None:
    """Scenario 42, instance flavour: two cluster-tagged SGs on the node ENI → FailedReconcile, no targets."""
    backend_sg = await harness.security_group("backend")
    tagged_1 = await harness.security_group("node-a", cluster_tagged=True)
    tagged_2 = await harness.security_group("node-b", cluster_tagged=True)
    await harness.create_node("node-1", await harness.instance(tagged_1, tagged_2))
    await harness.create_service("web", [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31223}])
    arn = await harness.target_group("web-tg", "instance")
    await harness.create_binding(
        "web", arn=arn, target_type="instance", service="web", port=80, networking=from_sg(backend_sg, 31223)
    )
    await harness.start()

    async def failed() -> None:
        reasons = {e["reason"]: e for e in await harness.events_for("web")}
        assert "FailedReconcile" in reasons
        assert "expected exactly one securityGroup tagged with" in reasons["FailedReconcile"]["note"]

    await harness.eventually(failed, "a FailedReconcile event")
    assert await harness.targets(arn) == set()
    assert await harness.labelled_rules(tagged_1) == set()
    assert await harness.labelled_rules(tagged_2) == set()
    errors = harness.registry.get_sample_value(
        "awslbc_controller_reconcile_errors_total",
        {"controller": "targetGroupBinding", "error_category": "reconcile_targetgroupbinding_error"},
    )
    assert errors is not None and errors >= 1


async def test_missing_source_sg_warns_its_binding_and_spares_the_others(harness: Harness) -> None:
    """A binding whose source SG does not exist: its targets register, a FailedNetworkReconcile names
    the field and the SG, it never reports success, and the node SG keeps converging for the other
    binding (whose rule is revoked when it goes)."""
    backend_sg = await harness.security_group("backend")
    node_sg = await harness.security_group("node")
    instance = await harness.instance(node_sg)
    missing = "sg-0123456789abcdef0"
    await harness.create_node("node-1", instance)
    await harness.create_service("web", [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31223}])
    good_arn = await harness.target_group("good-tg", "instance")
    bad_arn = await harness.target_group("bad-tg", "instance")
    await harness.create_binding(
        "bad", arn=bad_arn, target_type="instance", service="web", port=80, networking=from_sg(missing, 9999)
    )
    await harness.create_binding(
        "good",
        arn=good_arn,
        target_type="instance",
        service="web",
        port=80,
        networking=from_sg(backend_sg, 31223),
    )
    await harness.start()

    async def converged() -> dict[str, Any]:
        assert await harness.labelled_rules(node_sg) == {tcp_rule(31223, backend_sg)}
        assert await harness.targets(bad_arn) == {(instance, 31223)}
        events = {e["reason"]: e for e in await harness.events_for("bad")}
        assert "FailedNetworkReconcile" in events
        return events["FailedNetworkReconcile"]

    event = await harness.eventually(converged, "the good rule and a warning on the bad binding")
    assert event["type"] == "Warning"
    assert (
        missing in event["note"] and "spec.networking.ingress[].from[].securityGroup.groupID" in event["note"]
    )
    assert node_sg in harness.ownership.tracked_sgs

    await objects.delete(harness.client, TARGET_GROUP_BINDINGS, "good", NAMESPACE)

    async def revoked() -> None:
        assert await harness.labelled_rules(node_sg) == set()
        with pytest.raises(KubeApiError):
            await harness.binding("good")

    await harness.eventually(revoked, "the good binding's rule revoked on deletion")
    reasons = {e["reason"] for e in await harness.events_for("bad")}
    assert "SuccessfullyReconciled" not in reasons and "FailedReconcile" not in reasons
