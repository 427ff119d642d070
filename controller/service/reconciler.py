"""The Service reconciler (keys ``namespace/name``): one NLB stack per ``type: LoadBalancer`` Service.

A managed, live Service (reference §3.4, §7):

1. build the model, passing the SGs of the stack's existing NLB (an NLB created without SGs can
   never get any, so the builder keeps it SG-less). Bad input: Warning ``FailedBuildModel``,
   metric ``build_model_error``, no retry until the Service changes;
2. add ``service.k8s.aws/resources``; get the backend SG if the model needs it;
3. deploy; apply the rendered TargetGroupBindings; write ``status.loadBalancer.ingress``;
4. release the backend SG when the model no longer needs it; Normal ``SuccessfullyReconciled``.

A Service being deleted, or no longer ours (type or class changed), that still carries our
finalizer is cleaned up: TGBs and the stack are deleted, the backend SG released, the LB status
cleared (Warning ``FailedCleanupStatus`` on failure) and the finalizer removed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from controller.annotations import ModelBuildError
from controller.aws.api import AwsApi
from controller.backendsg import BackendSGDisabledError
from controller.config import ControllerConfig
from controller.deploy import DeploymentPending
from controller.deploy.load_balancer import LoadBalancerDeployer
from controller.metrics import LbcControllerMetrics
from controller.model.stack import StackModel
from controller.naming import SERVICE_TAG_PREFIX, StackTags
from controller.service.builder import LOAD_BALANCER_RESOURCE_ID, ExistingLoadBalancer
from controller.service.matcher import SERVICE_FINALIZER, is_managed_service
from controller.stack_status import (
    TGB_REPLACE_REQUEUE_SECONDS,
    BackendSGUsers,
    ObjectCache,
    StackDeployerLike,
    TargetGroupBindingApplier,
    drop_finalizer,
    ensure_finalizer,
    key_of,
    load_balancer_ingress,
    meta_of,
    reference_of,
    write_load_balancer_status,
)
from framework import objects
from framework.controller import Result, TerminalError
from framework.events import EventRecorder
from framework.informer import DeletedFinalStateUnknown, FunctionHandler, deletion_key, object_key
from framework.kube import SERVICES, KubeClient, KubeError, KubeObject

_log = logging.getLogger(__name__)

CONTROLLER_NAME: Final = "service"
BACKEND_SG_USER_TYPE: Final = "service"

REASON_FAILED_ADD_FINALIZER: Final = "FailedAddFinalizer"
REASON_FAILED_REMOVE_FINALIZER: Final = "FailedRemoveFinalizer"
REASON_FAILED_BUILD_MODEL: Final = "FailedBuildModel"
REASON_FAILED_DEPLOY_MODEL: Final = "FailedDeployModel"
REASON_FAILED_UPDATE_STATUS: Final = "FailedUpdateStatus"
REASON_FAILED_CLEANUP_STATUS: Final = "FailedCleanupStatus"
REASON_SUCCESSFULLY_RECONCILED: Final = "SuccessfullyReconciled"
REASON_MODEL_WARNING: Final = "ModelWarning"


class ServiceModelBuilderLike(Protocol):
    """``controller.service.ServiceModelBuilder``."""

    async def build(
        self, service: Mapping[str, Any], existing: ExistingLoadBalancer | None = None
    ) -> StackModel | None: ...


class ExistingLoadBalancerFinder(Protocol):
    async def find(self, stack: StackTags) -> ExistingLoadBalancer | None:
        """The stack's NLB as it exists in AWS, or None if there is none yet."""
        ...


class AwsExistingLoadBalancerFinder:
    """Finds the stack's NLB by its tracking and resource tags, as the deployer does."""

    def __init__(self, api: AwsApi, *, vpc_id: str) -> None:
        self._load_balancers = LoadBalancerDeployer(api, vpc_id=vpc_id, ignored_tag_keys=())

    async def find(self, stack: StackTags) -> ExistingLoadBalancer | None:
        found = await self._load_balancers.find(stack)
        existing = found.by_resource_id.get(LOAD_BALANCER_RESOURCE_ID)
        if existing is None:
            return None
        groups = existing.description.get("SecurityGroups") or ()
        return ExistingLoadBalancer(security_group_ids=tuple(str(g) for g in groups))


def backend_sg_user(service: Mapping[str, Any]) -> str:
    return f"{BACKEND_SG_USER_TYPE}/{key_of(service)}"


def _service_changed(old: KubeObject, new: KubeObject) -> bool:
    """False for our own status and finalizer writes, which cannot change the model."""
    if old is new:  # periodic resync
        return True
    old_meta, new_meta = meta_of(old), meta_of(new)
    return (
        old.get("spec") != new.get("spec")
        or old_meta.get("annotations") != new_meta.get("annotations")
        or old_meta.get("deletionTimestamp") != new_meta.get("deletionTimestamp")
        or old_meta.get("uid") != new_meta.get("uid")
    )


def service_handler(enqueue: Callable[[str], None]) -> FunctionHandler:
    """Handler for the Service informer feeding the Service queue (key ``namespace/name``)."""

    def on_update(old: KubeObject, new: KubeObject) -> None:
        if _service_changed(old, new):
            enqueue(object_key(new))

    def on_delete(obj: KubeObject | DeletedFinalStateUnknown) -> None:
        enqueue(deletion_key(obj))

    return FunctionHandler(
        add=lambda obj, _initial: enqueue(object_key(obj)), update=on_update, delete=on_delete
    )


class ServiceReconciler:
    """``Reconciler[str]`` for Service keys; see the module docstring.

    ``existing_load_balancers``: None means "unknown", i.e. the builder treats the NLB as new (it
    would then give an existing SG-less NLB a managed SG; pass the AWS finder in production).
    ``on_backend_sg_unused``: called when a release left the backend SG without users.
    """

    def __init__(
        self,
        *,
        config: ControllerConfig,
        client: KubeClient,
        services: ObjectCache,
        builder: ServiceModelBuilderLike,
        deployer: StackDeployerLike,
        backend_sg: BackendSGUsers,
        events: EventRecorder,
        metrics: LbcControllerMetrics,
        existing_load_balancers: ExistingLoadBalancerFinder | None,
        on_backend_sg_unused: Callable[[], None] | None = None,
    ) -> None:
        self._cluster_name = config.cluster_name
        self._load_balancer_class = config.load_balancer_class
        self._client = client
        self._services = services
        self._builder = builder
        self._deployer = deployer
        self._backend_sg = backend_sg
        self._events = events
        self._metrics = metrics
        self._existing = existing_load_balancers
        self._on_backend_sg_unused = on_backend_sg_unused
        self._tgbs = TargetGroupBindingApplier(client, namespace=config.watch_namespace or None)

    async def reconcile(self, key: str) -> Result:
        service = self._services.get(key)
        if service is None:
            return Result()  # gone: our finalizer would have kept it until cleaned up
        stack = StackTags(self._cluster_name, SERVICE_TAG_PREFIX, key)
        model = await self._build(service, stack)
        if model is None:
            return await self._cleanup(dict(service), stack)
        return await self._deploy(dict(service), model, stack)

    # ----------------------------------------------------------------------------- live Services

    async def _build(self, service: Mapping[str, Any], stack: StackTags) -> StackModel | None:
        live = not meta_of(service).get("deletionTimestamp")
        if not (live and is_managed_service(service, self._load_balancer_class)):
            return None
        try:
            with self._stage("build_model"):
                existing = await self._existing.find(stack) if self._existing is not None else None
                return await self._builder.build(service, existing=existing)
        except ModelBuildError as error:
            self._fail(service, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise TerminalError(f"service {stack.stack_id}: {error}") from error
        except Exception as error:
            # Looking up the existing NLB failed (AWS): retried with backoff.
            self._fail(service, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise

    async def _deploy(self, service: KubeObject, model: StackModel, stack: StackTags) -> Result:
        service = await self._add_finalizer(service)
        for warning in model.warnings:
            self._events.warning(reference_of(SERVICES, service), REASON_MODEL_WARNING, warning)
        backend_sg_id = await self._backend_sg_id(service, model)
        requeue_after: float | None = None
        try:
            with self._stage("deploy_model"):
                try:
                    result = await self._deployer.deploy(model, backend_sg_id=backend_sg_id)
                except DeploymentPending as pending:
                    if pending.result is None:
                        raise
                    _log.info("service %s: %s", stack.stack_id, pending)
                    result, requeue_after = pending.result, pending.requeue_after
                applied = await self._tgbs.apply(stack, result.tgb_specs)
        except DeploymentPending as pending:
            _log.info("service %s: %s", stack.stack_id, pending)
            return Result(requeue_after=pending.requeue_after)
        except Exception as error:
            self._fail(
                service, REASON_FAILED_DEPLOY_MODEL, "deploy_model_error", error, "Failed deploy model"
            )
            raise
        if applied.pending:
            requeue_after = min(requeue_after or TGB_REPLACE_REQUEUE_SECONDS, TGB_REPLACE_REQUEUE_SECONDS)
        try:
            with self._stage("update_status"):
                await write_load_balancer_status(
                    self._client, SERVICES, service, load_balancer_ingress(result.lb_dns_name)
                )
        except KubeError as error:
            self._fail(
                service, REASON_FAILED_UPDATE_STATUS, "update_status_error", error, "Failed update status"
            )
            raise
        if not model.needs_backend_sg:
            self._release_backend_sg(service)
        if requeue_after is None:
            self._events.normal(
                reference_of(SERVICES, service), REASON_SUCCESSFULLY_RECONCILED, "Successfully reconciled"
            )
        return Result(requeue_after=requeue_after)

    async def _add_finalizer(self, service: KubeObject) -> KubeObject:
        try:
            with self._stage("add_finalizers"):
                return await ensure_finalizer(self._client, SERVICES, service, SERVICE_FINALIZER)
        except KubeError as error:
            self._fail(
                service, REASON_FAILED_ADD_FINALIZER, "add_finalizers_error", error, "Failed add finalizer"
            )
            raise

    async def _backend_sg_id(self, service: KubeObject, model: StackModel) -> str | None:
        if not model.needs_backend_sg:
            return None
        try:
            with self._stage("build_model"):
                return await self._backend_sg.get([backend_sg_user(service)])
        except BackendSGDisabledError as error:
            self._fail(service, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise TerminalError(str(error)) from error
        except Exception as error:
            self._fail(service, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise

    # ----------------------------------------------------------------------------- clean-up

    async def _cleanup(self, service: KubeObject, stack: StackTags) -> Result:
        if not objects.has_finalizer(service, SERVICE_FINALIZER):
            return Result()  # never deployed (the finalizer comes first), or already cleaned up
        try:
            with self._stage("deploy_model"):
                await self._tgbs.delete_all(stack)
                deleted = await self._deployer.delete_stack(stack)
        except DeploymentPending as pending:
            _log.info("service %s: deletion pending: %s", stack.stack_id, pending)
            return Result(requeue_after=pending.requeue_after)
        except Exception as error:
            self._fail(
                service, REASON_FAILED_DEPLOY_MODEL, "deploy_model_error", error, "Failed deploy model"
            )
            raise
        if not deleted.is_empty:
            _log.info("service %s: deleted %s", stack.stack_id, deleted)
        self._release_backend_sg(service)
        try:
            with self._stage("update_status"):
                await write_load_balancer_status(self._client, SERVICES, service, None)
        except KubeError as error:
            self._fail(
                service, REASON_FAILED_CLEANUP_STATUS, "update_status_error", error, "Failed cleanup status"
            )
            raise
        try:
            with self._stage("remove_finalizers"):
                await drop_finalizer(self._client, SERVICES, service, SERVICE_FINALIZER)
        except KubeError as error:
            self._fail(
                service,
                REASON_FAILED_REMOVE_FINALIZER,
                "remove_finalizers_error",
                error,
                "Failed remove finalizer",
            )
            raise
        return Result()

    # ----------------------------------------------------------------------------- helpers

    def _release_backend_sg(self, service: Mapping[str, Any]) -> None:
        if self._backend_sg.release([backend_sg_user(service)]) and self._on_backend_sg_unused is not None:
            self._on_backend_sg_unused()

    def _fail(
        self, service: Mapping[str, Any], reason: str, category: str, error: BaseException, prefix: str
    ) -> None:
        self._metrics.error(CONTROLLER_NAME, category)
        self._events.warning(reference_of(SERVICES, service), reason, f"{prefix} due to {error}")

    def _stage(self, stage: str) -> contextlib.AbstractContextManager[None]:
        return self._metrics.stage(CONTROLLER_NAME, stage)
