"""The TargetGroupBinding reconciler (keys ``namespace/name``), reading everything from informer caches.

One pass, for a live TGB (upstream-behaviour §4.7, §4.9, §7):

1. add the finalizer ``elbv2.k8s.aws/resources`` before touching AWS;
2. resolve endpoints (ip: EndpointSlices; instance: Nodes + NodePort); a missing Service (or port)
   is a Warning ``BackendNotFound`` and the TGB's targets and rules are released;
3. networking (when ``spec.networking`` is set): publish the rules each endpoint SG needs. An error is
   a Warning ``FailedNetworkReconcile`` and a requeue after ``requeue_duration`` for ip TGBs (targets
   still register), and a failed reconcile (``FailedReconcile``) for instance TGBs, as upstream. A
   source SG that does not exist is a ``FailedNetworkReconcile`` and a requeue for both kinds: the
   other rules and the targets are unaffected, and such a pass never reports success;
4. register new targets, deregister stale ones (diff with DescribeTargetHealth);
5. ``status.observedGeneration`` through the status subresource.

A TGB being deleted deregisters all its targets, withdraws its rule contributions and then drops the
finalizer; a failure is a Warning ``FailedCleanup`` (and condition ``Ready=False``) and a retry. Targets
of a target group that a stack deletion is deleting right now are left registered: DeleteTargetGroup
takes them with it (design.md Difference 16).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from controller.aws.errors import AwsApiError
from controller.finalizers import TGB_FINALIZER
from controller.metrics import LbcControllerMetrics
from controller.targetgroupbinding.contributions import (
    ContributionError,
    ContributionPublisher,
    UnappliedRulesError,
)
from controller.targetgroupbinding.endpoints import (
    BackendNotFoundError,
    EndpointResolutionError,
    NodeEndpoint,
    PodEndpoint,
    resolve_node_endpoints,
    resolve_pod_endpoints,
)
from controller.targetgroupbinding.informers import SLICES_BY_SERVICE_INDEX, BindingInformers
from controller.targetgroupbinding.model import (
    CONTROLLER_NAME,
    TARGET_GROUP_BINDINGS,
    TARGET_TYPE_IP,
    Binding,
    InvalidBindingError,
)
from controller.targetgroupbinding.stack_target_groups import StackTargetGroups
from controller.targetgroupbinding.targets import TargetRegistrar
from framework import objects
from framework.controller import Result, TerminalError, mark_reported
from framework.events import EventRecorder, ObjectReference
from framework.kube import KubeApiError, KubeClient, KubeError, KubeObject

_log = logging.getLogger(__name__)

# Event reasons (upstream-behaviour §7).
REASON_FAILED_ADD_FINALIZER: Final = "FailedAddFinalizer"
REASON_FAILED_REMOVE_FINALIZER: Final = "FailedRemoveFinalizer"
REASON_FAILED_UPDATE_STATUS: Final = "FailedUpdateStatus"
REASON_FAILED_CLEANUP: Final = "FailedCleanup"
REASON_FAILED_NETWORK_RECONCILE: Final = "FailedNetworkReconcile"
REASON_BACKEND_NOT_FOUND: Final = "BackendNotFound"
REASON_FAILED_RECONCILE: Final = "FailedReconcile"
REASON_SUCCESSFULLY_RECONCILED: Final = "SuccessfullyReconciled"


@dataclass(frozen=True)
class ReconcilerSettings:
    requeue_duration: float = 15.0
    """``--targetgroupbinding-requeue-duration``: retry delay after an ip TGB networking error."""


def _reference(obj: KubeObject) -> ObjectReference:
    return ObjectReference(
        api_version=TARGET_GROUP_BINDINGS.api_version,
        kind=TARGET_GROUP_BINDINGS.kind,
        name=objects.name_of(obj),
        namespace=objects.namespace_of(obj),
        uid=objects.uid_of(obj),
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TargetGroupBindingReconciler:
    """``Reconciler[str]`` for TGB keys; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        informers: BindingInformers,
        registrar: TargetRegistrar,
        contributions: ContributionPublisher,
        events: EventRecorder,
        metrics: LbcControllerMetrics,
        stack_target_groups: StackTargetGroups,
        settings: ReconcilerSettings = ReconcilerSettings(),
    ) -> None:
        self._client = client
        self._informers = informers
        self._registrar = registrar
        self._contributions = contributions
        self._events = events
        self._metrics = metrics
        self._stack_target_groups = stack_target_groups
        self._settings = settings

    async def reconcile(self, key: str) -> Result:
        obj = self._informers.bindings.store.get(key)
        if obj is None:
            # Gone. Its rule contributions were dropped when the handlers pushed the new set of TGBs
            # with networking to the rule ownership; withdrawing here would re-add the key.
            return Result()
        if objects.is_deleting(obj):
            return await self._cleanup(key, obj)
        try:
            binding = Binding.parse(obj)
        except InvalidBindingError as error:
            self._fail(obj, REASON_FAILED_RECONCILE, "reconcile_targetgroupbinding_error", error)
            raise TerminalError(f"{key}: {error}") from error
        obj = await self._add_finalizer(obj)
        return await self._reconcile_live(obj, binding)

    # ----------------------------------------------------------------------------- live TGBs

    async def _reconcile_live(self, obj: KubeObject, binding: Binding) -> Result:
        try:
            with self._stage("resolve_endpoints"):
                endpoints = self._resolve(binding)
        except BackendNotFoundError as error:
            self._events.warning(_reference(obj), REASON_BACKEND_NOT_FOUND, str(error))
            try:
                await self._release(obj, binding.key, binding.target_group_arn)
            except AwsApiError as release_error:
                self._fail(obj, REASON_FAILED_RECONCILE, "reconcile_targetgroupbinding_error", release_error)
                raise
            await self._update_status(obj, binding)
            return Result()
        except EndpointResolutionError as error:
            self._fail(obj, REASON_FAILED_RECONCILE, "reconcile_targetgroupbinding_error", error)
            raise

        network_error: ContributionError | None = None
        try:
            with self._stage("reconcile_networking"):
                if binding.target_type == TARGET_TYPE_IP:
                    await self._contributions.publish_pod_targets(
                        binding,
                        [e for e in endpoints if isinstance(e, PodEndpoint)],
                        self._informers.pods.store,
                        self._informers.nodes.store,
                    )
                else:
                    await self._contributions.publish_node_targets(
                        binding, [e for e in endpoints if isinstance(e, NodeEndpoint)]
                    )
        except ContributionError as error:
            # Rules that cannot be applied (a missing source SG) hold back only themselves.
            if binding.target_type != TARGET_TYPE_IP and not isinstance(error, UnappliedRulesError):
                self._fail(obj, REASON_FAILED_RECONCILE, "reconcile_targetgroupbinding_error", error)
                raise
            # Tell the user, keep registering, look again soon (not counted as an error), and never
            # report success while a rule of this TGB cannot be applied.
            self._events.warning(_reference(obj), REASON_FAILED_NETWORK_RECONCILE, str(error))
            network_error = error

        try:
            with self._stage("register_targets"):
                changes = await self._registrar.sync(
                    binding.target_group_arn,
                    [endpoint.target for endpoint in endpoints],
                    known_empty=self._stack_target_groups.take_created_empty(binding.target_group_arn),
                )
        except AwsApiError as error:
            self._fail(obj, REASON_FAILED_RECONCILE, "reconcile_targetgroupbinding_error", error)
            raise
        status_written = await self._update_status(obj, binding)
        if network_error is not None:
            return Result(requeue_after=self._settings.requeue_duration)
        if changes.changed or status_written:
            self._events.normal(_reference(obj), REASON_SUCCESSFULLY_RECONCILED, "Successfully reconciled")
        return Result()

    def _resolve(self, binding: Binding) -> list[PodEndpoint] | list[NodeEndpoint]:
        service = self._informers.services.store.get(binding.service_key)
        if service is None:
            raise BackendNotFoundError(f'backend not found: services "{binding.service_name}" not found')
        if binding.target_type == TARGET_TYPE_IP:
            slices = self._informers.endpoint_slices.store.by_index(
                SLICES_BY_SERVICE_INDEX, binding.service_key
            )
            return resolve_pod_endpoints(service, slices, binding.service_port, binding.ip_address_type)
        return resolve_node_endpoints(
            service, self._informers.nodes.store.list(), binding.service_port, binding.node_selector
        )

    async def _add_finalizer(self, obj: KubeObject) -> KubeObject:
        if objects.has_finalizer(obj, TGB_FINALIZER):
            return obj
        try:
            with self._stage("add_finalizers"):
                return await objects.ensure_finalizer(self._client, TARGET_GROUP_BINDINGS, obj, TGB_FINALIZER)
        except KubeError as error:
            self._fail(
                obj, REASON_FAILED_ADD_FINALIZER, "add_finalizers_error", error, "Failed add finalizer"
            )
            raise

    async def _update_status(self, obj: KubeObject, binding: Binding) -> bool:
        """Write ``status.observedGeneration`` if it is behind; True when written."""
        if binding.observed_generation == binding.generation:
            return False
        try:
            with self._stage("update_status"):
                await objects.patch_status(
                    self._client,
                    TARGET_GROUP_BINDINGS,
                    binding.name,
                    binding.namespace,
                    {"observedGeneration": binding.generation},
                )
        except KubeApiError as error:
            if error.is_not_found:
                return False
            self._fail(obj, REASON_FAILED_UPDATE_STATUS, "update_status_error", error, "Failed update status")
            raise
        except KubeError as error:
            self._fail(obj, REASON_FAILED_UPDATE_STATUS, "update_status_error", error, "Failed update status")
            raise
        return True

    # ----------------------------------------------------------------------------- deletion

    async def _release(self, obj: KubeObject, key: str, target_group_arn: str) -> None:
        """Every target is deregistered and every rule contribution of this TGB withdrawn."""
        with self._stage("cleanup"):
            if target_group_arn and not self._stack_target_groups.is_being_deleted(target_group_arn):
                await self._registrar.deregister_all(target_group_arn)
            if (obj.get("spec") or {}).get("networking") is not None:
                # Only TGBs with networking are expected to publish; the rule ownership forgets the others.
                self._contributions.withdraw(key)

    async def _cleanup(self, key: str, obj: KubeObject) -> Result:
        if not objects.has_finalizer(obj, TGB_FINALIZER):
            return Result()  # another finalizer holds it; nothing of ours is left
        spec: Mapping[str, Any] = obj.get("spec") or {}
        try:
            await self._release(obj, key, str(spec.get("targetGroupARN") or ""))
        except AwsApiError as error:
            self._fail(
                obj, REASON_FAILED_CLEANUP, "cleanup_targetgroupbinding_error", error, "Failed cleanup"
            )
            await self._mark_cleanup_failed(obj, error)
            raise
        try:
            with self._stage("remove_finalizers"):
                await objects.drop_finalizer(self._client, TARGET_GROUP_BINDINGS, obj, TGB_FINALIZER)
        except KubeError as error:
            self._fail(
                obj,
                REASON_FAILED_REMOVE_FINALIZER,
                "remove_finalizers_error",
                error,
                "Failed remove finalizer",
            )
            raise
        return Result()

    async def _mark_cleanup_failed(self, obj: KubeObject, error: Exception) -> None:
        condition = {
            "type": "Ready",
            "status": "False",
            "reason": REASON_FAILED_CLEANUP,
            "message": str(error)[:1024],
            "lastTransitionTime": _now(),
        }
        try:
            await objects.patch_status(
                self._client,
                TARGET_GROUP_BINDINGS,
                objects.name_of(obj),
                objects.namespace_of(obj),
                {"conditions": [condition]},
            )
        except KubeError as status_error:
            # The cleanup error is what gets retried and reported; the condition is best effort.
            _log.warning(
                "could not set Ready=False on %s/%s: %s",
                objects.namespace_of(obj),
                objects.name_of(obj),
                status_error,
            )

    # ----------------------------------------------------------------------------- helpers

    def _fail(
        self, obj: KubeObject, reason: str, category: str, error: Exception, prefix: str = "Failed reconcile"
    ) -> None:
        self._metrics.error(CONTROLLER_NAME, category)
        self._events.warning(_reference(obj), reason, f"{prefix} due to {error}")
        # Every caller passes an error of a known kind whose message names the cause: the event
        # says it all, so the retry is logged as one line without a traceback.
        mark_reported(error)

    def _stage(self, stage: str) -> contextlib.AbstractContextManager[None]:
        return self._metrics.stage(CONTROLLER_NAME, stage)
