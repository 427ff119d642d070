"""The reconcile steps the Ingress-group and Service reconcilers share (upstream-behaviour §3.4, §7).

Both reconcile one stack for one or more Kubernetes objects (an Ingress group's members, or one
Service) and report every failure the same way: the metric ``<controller>/<category>`` once, then
a Warning Event on each object concerned (``"<prefix> due to <error>"``). ``StackReconcileSteps``
holds that reporting and the steps built on it (finalizers, backend SG, deploy + TGB apply,
status, stack deletion); each reconciler keeps the order of the steps and its own specific ones.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from controller.annotations import ModelBuildError, ObjectRef
from controller.aws.errors import AwsApiError
from controller.backendsg import BackendSGDisabledError
from controller.deploy import DeploymentPending, DeployResult
from controller.metrics import LbcControllerMetrics
from controller.model.attributes import DeletionProtectedError
from controller.model.stack import StackModel
from controller.naming import StackTags
from controller.stack.binding_applier import (
    TGB_REPLACE_REQUEUE_SECONDS,
    TargetGroupBindingApplier,
    target_group_arns,
)
from controller.stack.object_refs import reference_of
from controller.stack.seams import BackendSGUsers, StackDeployerLike, TargetGroupBindingCache
from controller.stack.status import load_balancer_ingress, write_load_balancer_status
from controller.targetgroupbinding.stack_target_groups import StackTargetGroups
from framework import objects
from framework.controller import Result, TerminalError, mark_reported
from framework.events import EventRecorder
from framework.kube import KubeClient, KubeError, KubeObject, Resource
from framework.objects import meta_of

# Event reasons, as upstream's Ingress and Service reconcilers name them.
REASON_FAILED_ADD_FINALIZER: Final = "FailedAddFinalizer"
REASON_FAILED_REMOVE_FINALIZER: Final = "FailedRemoveFinalizer"
REASON_FAILED_BUILD_MODEL: Final = "FailedBuildModel"
REASON_FAILED_DEPLOY_MODEL: Final = "FailedDeployModel"
REASON_FAILED_UPDATE_STATUS: Final = "FailedUpdateStatus"
REASON_FAILED_CLEANUP_STATUS: Final = "FailedCleanupStatus"
REASON_SUCCESSFULLY_RECONCILED: Final = "SuccessfullyReconciled"
REASON_MODEL_WARNING: Final = "ModelWarning"
"""Non-fatal problems the builder reports (e.g. IPv6 inbound CIDRs on an ipv4 ALB, design.md Difference 8)."""


EXPLAINED_ERRORS: Final = (ModelBuildError, BackendSGDisabledError, AwsApiError, KubeError)
"""Errors whose message names the cause (bad input, or what AWS or Kubernetes refused and why):
once reported as events they are logged as one line. Anything else is unexpected and is logged
with its traceback as well."""


def model_inputs_changed(old: KubeObject, new: KubeObject) -> bool:
    """Whether an update of an Ingress or Service can change its stack: False for our own status and
    finalizer writes (a finalizer alone never changes an Ingress group's membership; deletion and
    group moves change the fields compared here)."""
    if old is new:  # periodic resync
        return True
    old_meta, new_meta = meta_of(old), meta_of(new)
    return (
        old.get("spec") != new.get("spec")
        or old_meta.get("annotations") != new_meta.get("annotations")
        or old_meta.get("deletionTimestamp") != new_meta.get("deletionTimestamp")
        or old_meta.get("uid") != new_meta.get("uid")
    )


def raise_if_terminal(subject: str, error: ModelBuildError) -> None:
    """Give up on a build error only an edit of the object can fix (``TerminalError``: the edit
    triggers the next reconcile). A retryable one returns, and the caller re-raises it so the key
    is retried with backoff, as upstream retries every build error."""
    if not error.retryable:
        raise TerminalError(f"{subject}: {error}") from error


@dataclass(frozen=True)
class Deployed:
    """A deployed stack with its TGBs applied; ``requeue_after`` is set when part of it must be
    retried later (a deletion AWS refused for now, or a TGB still being replaced)."""

    result: DeployResult
    requeue_after: float | None


class StackReconcileSteps:
    """Steps on one controller's objects (``resource``), reporting failures as described above.

    ``subject`` (in each call) names the stack in log lines, e.g. ``"ingress group ns/name"``.
    ``on_backend_sg_unused`` is called when a release left the backend SG without users.
    ``watch_namespace``: where the stack's TargetGroupBindings may live (None: see
    ``TargetGroupBindingApplier``); ``tgb_cache``: the TGB informer's cache they are read from.
    ``stack_target_groups``: shared with the TGB reconciler: a deploy marks
    the target groups it created (their first target sync reads nothing) and a deletion those it
    deletes (their targets are left registered). ``log``: the reconciler's own logger, so
    log lines keep its name.
    """

    def __init__(
        self,
        *,
        controller_name: str,
        resource: Resource,
        client: KubeClient,
        deployer: StackDeployerLike,
        watch_namespace: str | None,
        tgb_cache: TargetGroupBindingCache,
        backend_sg: BackendSGUsers,
        events: EventRecorder,
        metrics: LbcControllerMetrics,
        on_backend_sg_unused: Callable[[], None] | None,
        stack_target_groups: StackTargetGroups,
        log: logging.Logger,
    ) -> None:
        self._controller_name = controller_name
        self._resource = resource
        self._client = client
        self._deployer = deployer
        self._tgbs = TargetGroupBindingApplier(client, tgb_cache, namespace=watch_namespace)
        self._backend_sg = backend_sg
        self._events = events
        self._metrics = metrics
        self._on_backend_sg_unused = on_backend_sg_unused
        self._stack_target_groups = stack_target_groups
        self._log = log

    # ----------------------------------------------------------------------------- reporting

    def stage(self, stage: str) -> contextlib.AbstractContextManager[None]:
        return self._metrics.stage(self._controller_name, stage)

    def fail(
        self,
        objs: Sequence[Mapping[str, Any]],
        reason: str,
        category: str,
        error: BaseException,
        prefix: str,
    ) -> None:
        self._metrics.error(self._controller_name, category)
        for obj in objs:
            self._events.warning(reference_of(self._resource, obj), reason, f"{prefix} due to {error}")
        if isinstance(error, EXPLAINED_ERRORS):
            mark_reported(error)  # the event says it all: one log line, no traceback

    @contextlib.contextmanager
    def step(
        self,
        stage: str,
        objs: Sequence[Mapping[str, Any]],
        reason: str,
        category: str,
        prefix: str,
    ) -> Iterator[None]:
        """Time the body as ``stage``; a ``KubeError`` from it is reported on ``objs`` and re-raised."""
        try:
            with self.stage(stage):
                yield
        except KubeError as error:
            self.fail(objs, reason, category, error, prefix)
            raise

    def model_warnings(self, model: StackModel, objs: Sequence[Mapping[str, Any]]) -> None:
        for warning in model.warnings:
            for obj in objs:
                self._events.warning(reference_of(self._resource, obj), REASON_MODEL_WARNING, warning)

    def reconciled(self, objs: Sequence[Mapping[str, Any]]) -> None:
        for obj in objs:
            self._events.normal(
                reference_of(self._resource, obj), REASON_SUCCESSFULLY_RECONCILED, "Successfully reconciled"
            )

    # ----------------------------------------------------------------------------- finalizers

    async def add_finalizer(
        self, objs: Sequence[KubeObject], finalizer: str, category: str
    ) -> list[KubeObject]:
        """The objects as written (each now carrying ``finalizer``)."""
        with self.step("add_finalizers", objs, REASON_FAILED_ADD_FINALIZER, category, "Failed add finalizer"):
            return [
                await objects.ensure_finalizer(self._client, self._resource, obj, finalizer) for obj in objs
            ]

    async def remove_finalizer(
        self,
        objs: Sequence[KubeObject],
        finalizer: str,
        category: str,
        report_to: Sequence[Mapping[str, Any]],
    ) -> None:
        """Remove ``finalizer`` from ``objs``; a failure is reported on ``report_to``."""
        with self.step(
            "remove_finalizers",
            report_to,
            REASON_FAILED_REMOVE_FINALIZER,
            category,
            "Failed remove finalizer",
        ):
            for obj in objs:
                await objects.drop_finalizer(self._client, self._resource, obj, finalizer)

    # ----------------------------------------------------------------------------- backend SG

    async def backend_sg_id(
        self, model: StackModel, users: Sequence[str], objs: Sequence[Mapping[str, Any]]
    ) -> str | None:
        """The shared backend SG when the model needs it; a disabled backend SG is terminal."""
        if not model.needs_backend_sg:
            return None
        try:
            with self.stage("build_model"):
                return await self._backend_sg.get(users)
        except BackendSGDisabledError as error:
            self.fail(objs, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise TerminalError(str(error)) from error
        except Exception as error:
            # An AWS failure while finding/creating the SG: retried with backoff.
            self.fail(objs, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise

    def release_backend_sg(self, users: Sequence[str]) -> None:
        if users and self._backend_sg.release(users) and self._on_backend_sg_unused is not None:
            self._on_backend_sg_unused()

    # ----------------------------------------------------------------------------- stack

    async def deploy(
        self,
        subject: str,
        model: StackModel,
        backend_sg_id: str | None,
        objs: Sequence[Mapping[str, Any]],
    ) -> Deployed | Result:
        """Deploy the model, then apply its TGBs (found by the model's stack tags). A ``Result``
        ends the pass: AWS refused a deletion for now and the deployer had nothing to show for it yet."""
        requeue_after: float | None = None
        try:
            with self.stage("deploy_model"):
                try:
                    result = await self._deployer.deploy(model, backend_sg_id=backend_sg_id)
                except DeploymentPending as pending:
                    if pending.result is None:
                        raise
                    self._log.info("%s: %s", subject, pending)
                    result, requeue_after = pending.result, pending.requeue_after
                # Before the bindings exist: their first target sync then skips reading new groups.
                self._stack_target_groups.created(result.created_empty_target_group_arns)
                applied = await self._tgbs.apply(model.stack_tags, result.tgb_specs)
        except DeploymentPending as pending:
            self._log.info("%s: %s", subject, pending)
            return Result(requeue_after=pending.requeue_after)
        except Exception as error:
            self.fail(objs, REASON_FAILED_DEPLOY_MODEL, "deploy_model_error", error, "Failed deploy model")
            raise
        if applied.pending:
            requeue_after = min(requeue_after or TGB_REPLACE_REQUEUE_SECONDS, TGB_REPLACE_REQUEUE_SECONDS)
        return Deployed(result, requeue_after)

    async def delete(
        self, subject: str, stack: StackTags, objs: Sequence[Mapping[str, Any]]
    ) -> Result | None:
        """Tears down the stack's load balancers, then its TGBs, then the rest of the stack, in
        upstream's order; a ``Result`` (requeue) while AWS refuses a deletion for now."""
        try:
            with self.stage("deploy_model"):
                # The load balancer goes first, as upstream: while AWS refuses to delete it, its
                # bindings (and so the rules on node and pod SGs it sends traffic through) stay.
                deleted_lbs = await self._deployer.delete_load_balancers(stack)
                if deleted_lbs:
                    self._log.info("%s: deleted load balancers %s", subject, list(deleted_lbs))
                bindings = await self._tgbs.find(stack)
                # Every target group these bindings use is the stack's and is deleted below, targets
                # and all: their clean-up need not deregister first (design.md Difference 16).
                with self._stack_target_groups.deleting(target_group_arns(bindings)):
                    await self._tgbs.delete_all(stack, bindings)
                    deleted = await self._deployer.delete_stack(stack)
        except DeploymentPending as pending:
            self._log.info("%s: deletion pending: %s", subject, pending)
            return Result(requeue_after=pending.requeue_after)
        except Exception as error:
            self.fail(objs, REASON_FAILED_DEPLOY_MODEL, "deploy_model_error", error, "Failed deploy model")
            raise
        if not deleted.is_empty:
            self._log.info("%s: deleted %s", subject, deleted)
        return None

    async def refuse_protected_deletion(
        self,
        subject: str,
        stack: StackTags,
        protected: Sequence[tuple[ObjectRef, str]],
        objs: Sequence[Mapping[str, Any]],
    ) -> None:
        """Raise ``DeletionProtectedError`` (reported as ``FailedBuildModel`` on ``objs``, retried with
        backoff) when an object being deleted still asks for deletion protection (``protected``:
        its reference and the attribute annotation). Nothing of the stack has been touched."""
        if not protected:
            return
        ref, key = protected[0]
        try:
            names = await self._deployer.load_balancer_names(stack)
        except Exception:  # only the message loses the name; the refusal stands
            self._log.warning("%s: could not read its load balancers' names", subject, exc_info=True)
            names = ()
        error = DeletionProtectedError(ref, key, names)
        self.fail(objs, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
        raise error

    async def write_status(self, objs: Sequence[Mapping[str, Any]], dns_name: str) -> None:
        """``status.loadBalancer.ingress`` of each object: the LB's DNS name."""
        wanted = load_balancer_ingress(dns_name)
        with self.step(
            "update_status", objs, REASON_FAILED_UPDATE_STATUS, "update_status_error", "Failed update status"
        ):
            for obj in objs:
                await write_load_balancer_status(self._client, self._resource, obj, wanted)

    async def clear_status(self, obj: Mapping[str, Any]) -> None:
        with self.step(
            "update_status",
            [obj],
            REASON_FAILED_CLEANUP_STATUS,
            "update_status_error",
            "Failed cleanup status",
        ):
            await write_load_balancer_status(self._client, self._resource, obj, None)
