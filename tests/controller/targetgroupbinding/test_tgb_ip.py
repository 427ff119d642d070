"""IP TGBs: pod IPs from EndpointSlices, missing Service, ambiguous pod ENI SGs (scenario 42)."""

from __future__ import annotations

import json
from typing import Any

from tgb_harness import Harness

from controller.endpointsg.discovery import POD_ENI_ANNOTATION
from controller.targetgroupbinding.contributions import missing_named_port_problem
from framework import objects
from framework.kube import ENDPOINT_SLICES, SERVICES

NAMESPACE = "default"


async def test_ip_binding_registers_ready_pod_ips_and_follows_the_slices(harness: Harness) -> None:
    await harness.create_service(
        "api", [{"name": "http", "port": 80, "targetPort": 8080}], svc_type="ClusterIP"
    )
    await harness.create_slice(
        "api",
        [("10.0.0.10", "api-0", True), ("10.0.0.11", "api-1", True), ("10.0.0.12", "api-2", False)],
        port=8080,
        port_name="http",
    )
    arn = await harness.target_group("api-tg", "ip")
    await harness.create_binding("api", arn=arn, target_type="ip", service="api", port="http")
    await harness.start()

    async def registered() -> None:
        assert await harness.targets(arn) == {("10.0.0.10", 8080), ("10.0.0.11", 8080)}

    await harness.eventually(registered, "ready pod IPs registered")

    # api-2 becomes ready, api-0 goes away.
    await objects.patch_merge(
        harness.client,
        ENDPOINT_SLICES,
        "api-abc",
        NAMESPACE,
        {
            "endpoints": [
                {"addresses": ["10.0.0.11"], "conditions": {"ready": True}},
                {"addresses": ["10.0.0.12"], "conditions": {"ready": True}},
            ]
        },
    )

    async def followed() -> None:
        assert await harness.targets(arn) == {("10.0.0.11", 8080), ("10.0.0.12", 8080)}

    await harness.eventually(followed, "targets to follow the EndpointSlice")
    reasons = [e["reason"] for e in await harness.events_for("api")]
    assert "SuccessfullyReconciled" in reasons


async def test_missing_service_is_backend_not_found_and_cleans_targets(harness: Harness) -> None:
    arn = await harness.target_group("gone-tg", "ip")
    # A target left over from before (e.g. the Service was deleted while we were down).
    await harness.api.call(
        "elbv2", "RegisterTargets", TargetGroupArn=arn, Targets=[{"Id": "10.0.0.99", "Port": 8080}]
    )
    await harness.create_binding("gone", arn=arn, target_type="ip", service="missing", port=80)
    await harness.start()

    async def cleaned() -> None:
        events = {e["reason"]: e for e in await harness.events_for("gone")}
        assert "BackendNotFound" in events
        assert events["BackendNotFound"]["type"] == "Warning"
        assert 'services "missing" not found' in events["BackendNotFound"]["note"]
        assert await harness.targets(arn) == set()

    await harness.eventually(cleaned, "BackendNotFound and targets cleaned")
    # The Service appears: its event re-enqueues the binding, which registers the endpoints.
    await harness.create_slice("missing", [("10.0.0.20", None, True)], port=8080)
    await harness.client.create(
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "missing"},
            "spec": {"ports": [{"port": 80}]},
        },
        NAMESPACE,
    )

    async def registered() -> None:
        assert await harness.targets(arn) == {("10.0.0.20", 8080)}

    await harness.eventually(registered, "targets once the Service exists")


def _networking(source_sg: str) -> dict[str, Any]:
    return {"ingress": [{"from": [{"securityGroup": {"groupID": source_sg}}], "ports": [{"port": "http"}]}]}


async def test_ip_networking_and_ambiguous_pod_eni_sgs(harness: Harness) -> None:
    """Pod ENI SG rules from named ports; scenario 42: two cluster-tagged SGs → FailedNetworkReconcile,
    targets still registered, no rule change, requeue after 15 s."""
    source_sg = await harness.security_group("alb")
    pod_sg = await harness.security_group("pod")
    ambiguous_1 = await harness.security_group("amb-1", cluster_tagged=True)
    ambiguous_2 = await harness.security_group("amb-2", cluster_tagged=True)
    good_eni, good_ip = await harness.branch_eni(pod_sg)
    bad_eni, bad_ip = await harness.branch_eni(ambiguous_1, ambiguous_2)
    for name, eni, ip in (("good-0", good_eni, good_ip), ("bad-0", bad_eni, bad_ip)):
        annotation = json.dumps([{"eniId": eni, "privateIp": ip}])
        await harness.create_pod(name, ip, annotations={POD_ENI_ANNOTATION: annotation})
    await harness.create_service(
        "good", [{"name": "http", "port": 80, "targetPort": "http"}], svc_type="ClusterIP"
    )
    await harness.create_service(
        "bad", [{"name": "http", "port": 80, "targetPort": "http"}], svc_type="ClusterIP"
    )
    await harness.create_slice("good", [(good_ip, "good-0", True)], port=8080, port_name="http")
    await harness.create_slice("bad", [(bad_ip, "bad-0", True)], port=8080, port_name="http")
    good_arn = await harness.target_group("good-tg", "ip")
    bad_arn = await harness.target_group("bad-tg", "ip")
    await harness.create_binding(
        "good", arn=good_arn, target_type="ip", service="good", port=80, networking=_networking(source_sg)
    )
    await harness.create_binding(
        "bad", arn=bad_arn, target_type="ip", service="bad", port=80, networking=_networking(source_sg)
    )
    await harness.start()

    async def good_converged() -> None:
        assert await harness.targets(good_arn) == {(good_ip, 8080)}
        assert {str(r) for r in await harness.labelled_rules(pod_sg)} == {
            f"tcp 8080-8080 from sg:{source_sg}"
        }

    await harness.eventually(good_converged, "the good binding's target and pod SG rule")

    async def bad_reported() -> dict[str, Any]:
        events = {e["reason"]: e for e in await harness.events_for("bad")}
        assert "FailedNetworkReconcile" in events
        assert await harness.targets(bad_arn) == {(bad_ip, 8080)}  # registration continued
        return events["FailedNetworkReconcile"]

    event = await harness.eventually(bad_reported, "FailedNetworkReconcile on the ambiguous binding")
    assert event["type"] == "Warning"
    assert bad_eni in event["note"] and ambiguous_1 in event["note"] and ambiguous_2 in event["note"]
    assert "FailedReconcile" not in {e["reason"] for e in await harness.events_for("bad")}
    assert await harness.labelled_rules(ambiguous_1) == set()
    assert await harness.labelled_rules(ambiguous_2) == set()
    # Requeued after the requeue duration (15 s of virtual time), not retried with backoff before.
    queue = harness.tgb.controller.queue

    async def waiting() -> int:
        assert queue.waiting_count == 1 and not len(queue) and not queue.processing_count
        assert harness.clock.now() < 15.0
        await harness.events.flush()
        [current] = [e for e in await harness.events_for("bad") if e["reason"] == "FailedNetworkReconcile"]
        return int((current.get("series") or {}).get("count", 1))

    seen = await harness.eventually(waiting, "the binding parked for its requeue")
    harness.clock.advance(15.0)

    async def retried() -> None:
        [again] = [e for e in await harness.events_for("bad") if e["reason"] == "FailedNetworkReconcile"]
        assert int((again.get("series") or {}).get("count", 1)) == seen + 1

    await harness.eventually(retried, "the 15 s requeue to run the networking again")
    errors = harness.registry.get_sample_value(
        "awslbc_controller_reconcile_errors_total",
        {"controller": "targetGroupBinding", "error_category": "reconcile_targetgroupbinding_error"},
    )
    assert errors is None  # a requeue is not a reconcile error


async def test_pods_without_the_named_port_are_named_in_a_warning_and_the_others_keep_their_rule(
    harness: Harness,
) -> None:
    """Upstream fails every rule of the binding when one pod lacks the named port; we keep the rules
    of the pods that have it, and a FailedNetworkReconcile names the port and the pods without it
    (the binding never reports success while that is so)."""
    source_sg = await harness.security_group("alb")
    pod_sg = await harness.security_group("pod")
    enis = [await harness.branch_eni(pod_sg) for _ in range(3)]
    declared: list[list[dict[str, Any]]] = [
        [{"name": "http", "containerPort": 8080}],
        [{"name": "metrics", "containerPort": 9090}],
        [{"containerPort": 8080}],
    ]
    for index, ((eni, ip), ports) in enumerate(zip(enis, declared, strict=True)):
        annotation = json.dumps([{"eniId": eni, "privateIp": ip}])
        await harness.create_pod(
            f"web-{index}", ip, annotations={POD_ENI_ANNOTATION: annotation}, ports=ports
        )
    await harness.create_service(
        "web", [{"name": "http", "port": 80, "targetPort": "http"}], svc_type="ClusterIP"
    )
    await harness.create_slice(
        "web", [(ip, f"web-{index}", True) for index, (_, ip) in enumerate(enis)], port=8080, port_name="http"
    )
    arn = await harness.target_group("web-tg", "ip")
    await harness.create_binding(
        "web", arn=arn, target_type="ip", service="web", port=80, networking=_networking(source_sg)
    )
    await harness.start()

    async def warned() -> dict[str, Any]:
        assert {str(r) for r in await harness.labelled_rules(pod_sg)} == {
            f"tcp 8080-8080 from sg:{source_sg}"
        }
        assert await harness.targets(arn) == {(ip, 8080) for _, ip in enis}
        # A pass that ran before every pod reached the cache names fewer pods; a later one names both.
        naming_both = [
            e
            for e in await harness.events_for("web")
            if e["reason"] == "FailedNetworkReconcile"
            and "unable to find port http on pods [default/web-1 default/web-2]" in e["note"]
        ]
        assert naming_both
        return naming_both[0]

    event = await harness.eventually(warned, "the rule of web-0 and a warning naming the others")
    assert event["type"] == "Warning"
    assert "SuccessfullyReconciled" not in {e["reason"] for e in await harness.events_for("web")}


def test_a_long_list_of_pods_without_the_port_is_cut_short() -> None:
    keys = [f"default/web-{i:02d}" for i in range(25)]
    problem = missing_named_port_problem("http", keys)
    assert problem.startswith("unable to find port http on pods [default/web-00 ")
    assert "default/web-09] and 15 more" in problem and "web-10" not in problem
