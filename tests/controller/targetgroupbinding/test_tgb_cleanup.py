"""Deletion that fails in AWS: FailedCleanup, Ready=False, finalizer kept, retried until it works."""

from __future__ import annotations

from tgb_harness import NAMESPACE, Harness

from controller.finalizers import TGB_FINALIZER
from controller.sandbox.proxy import AwsProxy
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from controller.targetgroupbinding.endpoints import Target
from controller.targetgroupbinding.targets import TargetRegistrar
from framework import objects
from framework.kube import KubeApiError


async def test_failed_cleanup_keeps_the_finalizer_and_retries(harness: Harness, aws_proxy: AwsProxy) -> None:
    await harness.create_service(
        "api", [{"name": "http", "port": 80, "targetPort": 8080}], svc_type="ClusterIP"
    )
    await harness.create_slice("api", [("10.0.0.10", None, True)], port=8080, port_name="http")
    arn = await harness.target_group("api-tg", "ip")
    await harness.create_binding("api", arn=arn, target_type="ip", service="api", port=80)
    await harness.start()

    async def registered() -> None:
        assert await harness.targets(arn) == {("10.0.0.10", 8080)}
        assert TGB_FINALIZER in (await harness.binding("api"))["metadata"]["finalizers"]

    await harness.eventually(registered, "the target registered")
    aws_proxy.faults.fail(
        "DeregisterTargets", code="AccessDenied", status=403, message="not allowed", times=None
    )
    await objects.delete(harness.client, TARGET_GROUP_BINDINGS, "api", NAMESPACE)

    async def failed() -> None:
        events = {e["reason"]: e for e in await harness.events_for("api")}
        assert "FailedCleanup" in events
        assert "AccessDenied" in events["FailedCleanup"]["note"]
        binding = await harness.binding("api")
        assert TGB_FINALIZER in binding["metadata"]["finalizers"]
        [condition] = binding["status"]["conditions"]
        assert (condition["type"], condition["status"], condition["reason"]) == (
            "Ready",
            "False",
            "FailedCleanup",
        )

    await harness.eventually(failed, "FailedCleanup with the finalizer kept")
    assert await harness.targets(arn) == {("10.0.0.10", 8080)}
    aws_proxy.faults.clear()

    async def gone() -> None:
        assert await harness.targets(arn) == set()
        try:
            await harness.binding("api")
        except KubeApiError as error:
            assert error.is_not_found
        else:
            raise AssertionError("the binding still exists")

    # The retry backoff is exponential from 5 ms on the fake clock, which eventually() advances.
    await harness.eventually(gone, "the retried cleanup to finish")
    category = {"controller": "targetGroupBinding", "error_category": "cleanup_targetgroupbinding_error"}
    failures = harness.registry.get_sample_value("awslbc_controller_reconcile_errors_total", category)
    assert failures is not None and failures >= 1


async def test_targets_are_registered_in_batches(harness: Harness, aws_proxy: AwsProxy) -> None:
    arn = await harness.target_group("batch-tg", "ip")
    registrar = TargetRegistrar(harness.api, batch_size=2)
    wanted = [Target(f"10.0.1.{n}", 8080) for n in range(5)]
    aws_proxy.reset_counts()
    changes = await registrar.sync(arn, wanted)
    assert changes.registered == tuple(wanted) and changes.deregistered == ()
    assert aws_proxy.calls_by_operation()["RegisterTargets"] == 3
    assert await harness.targets(arn) == {(t.id, t.port) for t in wanted}
    changes = await registrar.sync(arn, wanted[:1])
    assert changes.deregistered == tuple(wanted[1:])
    assert aws_proxy.calls_by_operation()["DeregisterTargets"] == 2
    assert (await registrar.deregister_all(arn)).deregistered == (wanted[0],)
    # A target group that no longer exists has nothing to deregister.
    await harness.api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=arn)
    assert (await registrar.deregister_all(arn)).deregistered == ()


async def _gone(harness: Harness, name: str) -> None:
    try:
        await harness.binding(name)
    except KubeApiError as error:
        assert error.is_not_found
    else:
        raise AssertionError(f"the binding {name} still exists")


async def _settled(harness: Harness) -> None:
    queue = harness.tgb.controller.queue
    assert not len(queue) and not queue.processing_count and not queue.waiting_count


async def test_a_new_binding_costs_one_describe_and_only_a_stack_deletion_skips_deregistering(
    harness: Harness, aws_proxy: AwsProxy
) -> None:
    """A new TGB: one DescribeTargetHealth, one RegisterTargets (the write of our finalizer starts no
    second pass); none of the describe when the stack's deploy just created the group. Deleting a TGB whose target group a stack deletion is deleting: no AWS call, the
    targets stay registered and DeleteTargetGroup takes them along. Deleting one whose target group
    stays (a user's own): its targets are deregistered, as before."""
    await harness.create_service(
        "api", [{"name": "http", "port": 80, "targetPort": 8080}], svc_type="ClusterIP"
    )
    await harness.create_slice("api", [("10.0.0.10", None, True)], port=8080, port_name="http")
    stack_arn = await harness.target_group("stack-tg", "ip")
    user_arn = await harness.target_group("user-tg", "ip")
    await harness.create_binding("stack", arn=stack_arn, target_type="ip", service="api", port=80)
    await harness.create_binding("user", arn=user_arn, target_type="ip", service="api", port=80)
    harness.stack_target_groups.created([stack_arn])  # as the stack's deploy does
    aws_proxy.reset_counts()
    await harness.start()

    async def bound() -> None:
        for name in ("stack", "user"):
            binding = await harness.binding(name)
            assert TGB_FINALIZER in binding["metadata"].get("finalizers", [])
            assert binding.get("status", {}).get("observedGeneration") == 1
        await _settled(harness)

    await harness.eventually(bound, "both bindings reconciled and their queue idle")
    calls = aws_proxy.calls_by_operation()
    assert (calls["DescribeTargetHealth"], calls["RegisterTargets"]) == (1, 2), calls
    described = [
        r.params["TargetGroupArn"] for r in aws_proxy.request_log if r.operation == "DescribeTargetHealth"
    ]
    assert described == [user_arn]
    assert await harness.targets(stack_arn) == await harness.targets(user_arn) == {("10.0.0.10", 8080)}

    aws_proxy.reset_counts()
    with harness.stack_target_groups.deleting([stack_arn]):
        await objects.delete(harness.client, TARGET_GROUP_BINDINGS, "stack", NAMESPACE)
        await harness.eventually(lambda: _gone(harness, "stack"), "the stack's binding released")
    assert aws_proxy.calls_by_operation() == {}
    assert await harness.targets(stack_arn) == {("10.0.0.10", 8080)}
    # AWS deletes a target group with registered targets (only a forwarding listener or rule stops it).
    await harness.api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=stack_arn)

    aws_proxy.reset_counts()
    await objects.delete(harness.client, TARGET_GROUP_BINDINGS, "user", NAMESPACE)
    await harness.eventually(lambda: _gone(harness, "user"), "the user's binding released")
    calls = aws_proxy.calls_by_operation()
    assert (calls["DescribeTargetHealth"], calls["DeregisterTargets"]) == (1, 1), calls
    assert await harness.targets(user_arn) == set()
