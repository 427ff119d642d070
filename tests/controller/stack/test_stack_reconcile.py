"""The reconcile steps shared by the Ingress-group and Service reconcilers: how failures are
reported (one metric, one Warning per object), which errors a step reports, and the deploy /
delete outcomes when AWS refuses a deletion for now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from controller.annotations import InvalidAnnotationError, ObjectRef
from controller.aws.errors import AwsApiError
from controller.deploy import DeploymentPending, DeployResult
from controller.deploy.result import DeletionResult
from controller.metrics import controller_metrics
from controller.model.stack import StackModel
from controller.naming import StackTags
from controller.stack.reconcile import (
    REASON_FAILED_DEPLOY_MODEL,
    REASON_FAILED_UPDATE_STATUS,
    Deployed,
    StackReconcileSteps,
    model_inputs_changed,
)
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS, StackTargetGroups
from framework.clock import FakeClock
from framework.controller import Controller, Result
from framework.events import EventRecorder, ObjectReference
from framework.kube import SERVICES, KubeApiError, KubeClient, KubeObject

STACK = StackTags("cluster", "service.k8s.aws", "apps/web")


@dataclass(frozen=True)
class ModelOfStack:
    """All the steps read of a model when the deployer is scripted: its stack tags."""

    stack_tags: StackTags


MODEL = cast(StackModel, ModelOfStack(STACK))
CONVERGED = DeployResult(
    lb_arn="arn:lb",
    lb_dns_name="web.elb",
    managed_sg_id=None,
    load_balancer_security_groups=(),
    target_group_arns={},
    tgb_specs=(),
)
ERRORS = "awslbc_controller_reconcile_errors_total"


@dataclass
class RecordedEvents:
    recorded: list[tuple[str, str, str, str]] = field(default_factory=list)

    def warning(self, obj: ObjectReference, reason: str, note: str) -> None:
        self.recorded.append(("Warning", obj.name, reason, note))

    def normal(self, obj: ObjectReference, reason: str, note: str) -> None:
        self.recorded.append(("Normal", obj.name, reason, note))


@dataclass
class ScriptedDeployer:
    error: Exception

    async def deploy(self, model: StackModel, *, backend_sg_id: str | None) -> DeployResult:
        raise self.error

    async def load_balancer_names(self, stack: StackTags) -> tuple[str, ...]:
        return ()

    async def delete_load_balancers(self, stack: StackTags) -> tuple[str, ...]:
        return ()

    async def delete_stack(self, stack: StackTags) -> DeletionResult:
        raise self.error


@dataclass
class CachedBindings:
    """The TGB informer's cache as the applier reads it: ``bindings`` for any stack; each lookup recorded."""

    bindings: list[KubeObject] = field(default_factory=list)
    looked_up: list[StackTags] = field(default_factory=list)
    has_synced: bool = True
    resource_version: str = "1"

    def of_stack(self, stack: StackTags) -> list[KubeObject]:
        self.looked_up.append(stack)
        return list(self.bindings)


@dataclass
class NoBindingsClient:
    """Answers the TGB applier's label-selected LIST (a live read): the stack has no TargetGroupBindings."""

    listed: list[tuple[str | None, str]] = field(default_factory=list)
    """(namespace, label selector) of each LIST."""

    async def list(
        self, resource: object, namespace: str | None, *, query: list[tuple[str, str]]
    ) -> dict[str, Any]:
        self.listed.append((namespace, dict(query)["labelSelector"]))
        return {"items": []}


class UnusedBackendSG:
    async def get(self, users: Iterable[str]) -> str:
        raise AssertionError("not called")

    def release(self, users: Iterable[str]) -> bool:
        return True


def service(name: str) -> KubeObject:
    return {"metadata": {"name": name, "namespace": "apps", "uid": f"uid-{name}"}}


def steps_for(
    deployer: ScriptedDeployer,
    events: RecordedEvents,
    registry: CollectorRegistry,
    client: NoBindingsClient | None = None,
    cache: CachedBindings | None = None,
) -> StackReconcileSteps:
    return StackReconcileSteps(
        controller_name="service",
        resource=SERVICES,
        client=cast(KubeClient, client or NoBindingsClient()),
        deployer=deployer,
        watch_namespace=None,
        tgb_cache=cache or CachedBindings(),
        backend_sg=UnusedBackendSG(),
        events=cast(EventRecorder, events),
        metrics=controller_metrics(registry),
        on_backend_sg_unused=None,
        stack_target_groups=StackTargetGroups(),
        log=logging.getLogger(__name__),
    )


def errors(registry: CollectorRegistry, category: str) -> float | None:
    return registry.get_sample_value(ERRORS, {"controller": "service", "error_category": category})


def test_a_failed_step_counts_once_and_warns_on_every_object() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    steps = steps_for(ScriptedDeployer(RuntimeError("unused")), events, registry)
    conflict = KubeApiError(409, {"reason": "Conflict", "message": "stale"})
    with (
        pytest.raises(KubeApiError),
        steps.step(
            "update_status",
            [service("a"), service("b")],
            REASON_FAILED_UPDATE_STATUS,
            "update_status_error",
            "Failed update status",
        ),
    ):
        raise conflict
    assert errors(registry, "update_status_error") == 1.0
    note = f"Failed update status due to {conflict}"
    assert events.recorded == [
        ("Warning", "a", "FailedUpdateStatus", note),
        ("Warning", "b", "FailedUpdateStatus", note),
    ]


def test_a_step_reports_only_kubernetes_errors() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    steps = steps_for(ScriptedDeployer(RuntimeError("unused")), events, registry)
    with (
        pytest.raises(ValueError),
        steps.step("update_status", [service("a")], REASON_FAILED_UPDATE_STATUS, "update_status_error", "x"),
    ):
        raise ValueError("not ours to report")
    assert errors(registry, "update_status_error") is None
    assert events.recorded == []


async def test_deploy_ends_the_pass_when_aws_refuses_without_a_result() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    steps = steps_for(ScriptedDeployer(DeploymentPending("SG in use", requeue_after=7.0)), events, registry)
    outcome = await steps.deploy("service apps/web", MODEL, None, [service("web")])
    assert outcome == Result(requeue_after=7.0)
    assert events.recorded == []


async def test_a_deploy_failure_is_failed_deploy_model_and_is_raised() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    boom = RuntimeError("AWS said no")
    steps = steps_for(ScriptedDeployer(boom), events, registry)
    with pytest.raises(RuntimeError):
        await steps.deploy("service apps/web", MODEL, None, [service("web")])
    assert errors(registry, "deploy_model_error") == 1.0
    assert events.recorded == [
        ("Warning", "web", REASON_FAILED_DEPLOY_MODEL, "Failed deploy model due to AWS said no")
    ]


async def test_deploy_applies_the_tgbs_and_requeues_when_only_clean_up_is_pending() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    pending = DeploymentPending("old TG in use", requeue_after=5.0, result=CONVERGED)
    client, cache = NoBindingsClient(), CachedBindings()
    steps = steps_for(ScriptedDeployer(pending), events, registry, client, cache)
    outcome = await steps.deploy("service apps/web", MODEL, None, [service("web")])
    assert outcome == Deployed(CONVERGED, 5.0)
    assert events.recorded == []
    # The stack's TGBs are looked up in the TGB cache by the model's stack tags; the API server is
    # not asked.
    assert cache.looked_up == [STACK] and client.listed == []


async def test_the_bindings_are_listed_live_until_the_tgb_cache_has_synced() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    client, cache = NoBindingsClient(), CachedBindings(has_synced=False)
    pending = DeploymentPending("old TG in use", requeue_after=5.0, result=CONVERGED)
    steps = steps_for(ScriptedDeployer(pending), events, registry, client, cache)
    await steps.deploy("service apps/web", MODEL, None, [service("web")])
    # Upstream's tracking labels select them.
    assert client.listed == [("apps", "service.k8s.aws/stack-name=web,service.k8s.aws/stack-namespace=apps")]
    assert cache.looked_up == []


async def test_a_pending_deletion_requeues() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    steps = steps_for(ScriptedDeployer(DeploymentPending("TG in use", requeue_after=3.0)), events, registry)
    assert await steps.delete("service apps/web", STACK, [service("web")]) == Result(requeue_after=3.0)
    assert errors(registry, "deploy_model_error") is None
    assert events.recorded == []


async def test_a_failed_deletion_is_failed_deploy_model_and_is_raised() -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    steps = steps_for(ScriptedDeployer(RuntimeError("AWS said no")), events, registry)
    with pytest.raises(RuntimeError):
        await steps.delete("service apps/web", STACK, [service("web")])
    assert errors(registry, "deploy_model_error") == 1.0
    assert events.recorded == [
        ("Warning", "web", REASON_FAILED_DEPLOY_MODEL, "Failed deploy model due to AWS said no")
    ]


def test_model_inputs_changed_ignores_status_and_finalizer_writes() -> None:
    old: dict[str, Any] = {"metadata": {"uid": "1", "annotations": {"a": "1"}}, "spec": {"x": 1}}
    assert model_inputs_changed(old, old)  # a periodic resync re-queues
    status_write = {**old, "status": {"loadBalancer": {"ingress": [{"hostname": "h"}]}}}
    finalizer_write = {**old, "metadata": {**old["metadata"], "finalizers": ["f"]}}
    assert not model_inputs_changed(old, status_write)
    assert not model_inputs_changed(old, finalizer_write)
    assert model_inputs_changed(old, {**old, "spec": {"x": 2}})
    assert model_inputs_changed(old, {**old, "metadata": {**old["metadata"], "annotations": {}}})
    assert model_inputs_changed(old, {**old, "metadata": {**old["metadata"], "deletionTimestamp": "t"}})
    assert model_inputs_changed(old, {**old, "metadata": {**old["metadata"], "uid": "2"}})


@pytest.mark.parametrize(
    ("error", "one_line"),
    [
        (
            AwsApiError(
                service="ec2",
                operation="AuthorizeSecurityGroupIngress",
                code="InvalidGroup.NotFound",
                message="The security group 'sg-1' does not exist",
            ),
            True,
        ),
        (KubeApiError(409, {"reason": "Conflict", "message": "the object has been modified"}), True),
        (
            InvalidAnnotationError(
                ObjectRef("Service", "apps", "web"), "some-annotation", "x", "not a number"
            ),
            True,
        ),
        (KeyError("listeners"), False),  # a bug: its traceback is what finds it
    ],
)
async def test_a_failure_reported_as_an_event_is_one_log_line_an_unexpected_one_keeps_its_traceback(
    error: Exception, one_line: bool, caplog: pytest.LogCaptureFixture
) -> None:
    events, registry = RecordedEvents(), CollectorRegistry()
    steps = steps_for(ScriptedDeployer(error), events, registry)

    class DeployOnce:
        async def reconcile(self, key: str) -> Result:
            await steps.deploy("service apps/web", MODEL, None, [service("web")])
            return Result()

    clock = FakeClock()
    controller: Controller[str] = Controller("service", DeployOnce(), clock=clock, registry=registry)
    controller.start()
    try:
        controller.queue.add("apps/web")
        for _ in range(10):
            await asyncio.sleep(0)
    finally:
        await controller.stop(timeout=0)
    assert [reason for _, _, reason, _ in events.recorded] == [REASON_FAILED_DEPLOY_MODEL]
    [record] = [r for r in caplog.records if r.name == "framework.controller" and r.levelname == "ERROR"]
    assert "key='apps/web'" in record.getMessage()
    if one_line:
        assert record.exc_info is None and "\n" not in record.getMessage()
        assert record.getMessage().endswith(f"error={error}")
    else:
        assert record.exc_info is not None


STACK_BINDINGS = [
    {"metadata": {"name": "web-80", "namespace": "apps"}, "spec": {"targetGroupARN": "arn:tg/80"}},
    {
        "metadata": {"name": "web-old", "namespace": "apps", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"targetGroupARN": "arn:tg/old"},
    },
]
"""Two TGBs of the stack, one already being deleted."""


@dataclass
class StackBindingsClient(NoBindingsClient):
    """Records each DELETE."""

    deletions: StackTargetGroups = field(default_factory=StackTargetGroups)
    deleted: list[tuple[str, bool]] = field(default_factory=list)
    """(path, whether its target group was marked as being deleted at that moment)."""

    async def request(self, method: str, path: str, **_: object) -> dict[str, Any]:
        assert method == "DELETE", method
        self.deleted.append((path, self.deletions.is_being_deleted("arn:tg/80")))
        return {}


@dataclass
class RecordingDeleter(ScriptedDeployer):
    """``delete_stack`` notes which target groups were marked when it ran, then raises ``error``."""

    deletions: StackTargetGroups = field(default_factory=StackTargetGroups)
    marked: list[tuple[bool, bool]] = field(default_factory=list)

    async def delete_stack(self, stack: StackTags) -> DeletionResult:
        self.marked.append(
            (self.deletions.is_being_deleted("arn:tg/80"), self.deletions.is_being_deleted("arn:tg/old"))
        )
        raise self.error


async def test_a_stack_deletion_marks_its_bindings_target_groups_until_it_ends() -> None:
    """The TGB clean-up must see every target group of the stack's bindings as being deleted from the
    moment a binding is deleted until ``delete_stack`` returns, and never afterwards (a binding deleted
    later must deregister again)."""
    events, registry = RecordedEvents(), CollectorRegistry()
    client = StackBindingsClient()
    deployer = RecordingDeleter(DeploymentPending("TG in use", requeue_after=3.0), client.deletions)
    steps = StackReconcileSteps(
        controller_name="service",
        resource=SERVICES,
        client=cast(KubeClient, client),
        deployer=deployer,
        watch_namespace=None,
        tgb_cache=CachedBindings(STACK_BINDINGS),
        backend_sg=UnusedBackendSG(),
        events=cast(EventRecorder, events),
        metrics=controller_metrics(registry),
        on_backend_sg_unused=None,
        stack_target_groups=client.deletions,
        log=logging.getLogger(__name__),
    )
    assert await steps.delete("service apps/web", STACK, [service("web")]) == Result(requeue_after=3.0)
    # Only the live binding is deleted (the other one already is), while its target group is marked.
    assert client.deleted == [(TARGET_GROUP_BINDINGS.object_path("web-80", "apps"), True)]
    assert deployer.marked == [(True, True)]
    assert not client.deletions.is_being_deleted("arn:tg/80")
    assert not client.deletions.is_being_deleted("arn:tg/old")
