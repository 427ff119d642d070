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
