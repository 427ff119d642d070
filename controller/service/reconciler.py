"""The Service reconciler (keys ``namespace/name``): one NLB stack per ``type: LoadBalancer`` Service.

A managed, live Service (upstream-behaviour §3.4, §7):

1. build the model, passing the SGs and scheme of the stack's existing NLB (an NLB created
   without SGs can never get any, so the builder keeps it SG-less; a Service that names no scheme
   keeps the NLB's rather than replacing it). Bad input: Warning ``FailedBuildModel``,
   metric ``build_model_error``, no retry until the Service changes (custom SGs that do not resolve
   are retried with backoff: they may be created later, or AWS failed the lookup);
2. add ``service.k8s.aws/resources``; get the backend SG if the model needs it;
3. deploy; apply the rendered TargetGroupBindings; write ``status.loadBalancer.ingress``;
4. release the backend SG when the model no longer needs it; Normal ``SuccessfullyReconciled``.

A Service being deleted, or no longer ours (type or class changed), that still carries our
finalizer is cleaned up: the NLB, then the TGBs, then the rest of the stack are deleted, the
backend SG released, the LB status cleared (Warning ``FailedCleanupStatus`` on failure) and the
finalizer removed. A Service being deleted whose ``aws-load-balancer-attributes`` still ask for
deletion protection is not cleaned up (Warning ``FailedBuildModel``, retried with backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from controller.annotations import SVC_LOAD_BALANCER_ATTRIBUTES, ModelBuildError, ObjectRef
from controller.config import ControllerSettings
from controller.deploy.elbv2_index import Elbv2Index
from controller.deploy.load_balancer import subnet_ids_of
from controller.finalizers import SERVICE_FINALIZER
from controller.metrics import LbcControllerMetrics
from controller.model.attributes import deletion_protection_enabled
from controller.model.load_balancer import Scheme
from controller.model.stack import StackModel
from controller.naming import SERVICE_TAG_PREFIX, StackTags
from controller.service.builder import LOAD_BALANCER_RESOURCE_ID, ExistingLoadBalancer
from controller.service.matcher import is_managed_service
from controller.stack import (
    REASON_FAILED_BUILD_MODEL,
    BackendSGUsers,
    ObjectCache,
    StackDeployerLike,
    StackReconcileSteps,
    TargetGroupBindingCache,
    model_inputs_changed,
    raise_if_terminal,
)
from controller.targetgroupbinding import StackTargetGroups
from framework import objects
from framework.controller import Result
from framework.events import EventRecorder
from framework.informer import DeletedFinalStateUnknown, FunctionHandler, deletion_key
from framework.kube import SERVICES, KubeClient, KubeObject
from framework.objects import is_deleting, object_key

_log = logging.getLogger(__name__)

CONTROLLER_NAME: Final = "service"
BACKEND_SG_USER_TYPE: Final = "service"


class ServiceModelBuilderLike(Protocol):
    """``controller.service.ServiceModelBuilder``."""

    async def build(
        self, service: Mapping[str, Any], stack_tags: StackTags, existing: ExistingLoadBalancer | None = None
    ) -> StackModel | None: ...


class ExistingLoadBalancerFinder(Protocol):
    async def find(self, stack: StackTags) -> ExistingLoadBalancer | None:
        """The stack's NLB as it exists in AWS, or None if there is none yet."""
        ...


class AwsExistingLoadBalancerFinder:
    """Finds the stack's NLB by its tracking and resource tags, in the deployer's ``Elbv2Index``."""

    def __init__(self, index: Elbv2Index) -> None:
        self._index = index

    async def find(self, stack: StackTags) -> ExistingLoadBalancer | None:
        found = await self._index.load_balancers(stack)
        existing = found.by_resource_id.get(LOAD_BALANCER_RESOURCE_ID)
        if existing is None:
            return None
        return ExistingLoadBalancer(
            security_group_ids=existing.description.security_groups,
            scheme=Scheme(str(existing.description.scheme)),
            subnet_ids=tuple(sorted(subnet_ids_of(existing.description))),
        )


def service_stack_tags(cluster_name: str, key: str) -> StackTags:
    """The stack identity of the Service ``key`` (``namespace/name``). The reconciler builds it once
    per pass; the builder puts it on the model, where the deployer and the TGB applier read it."""
    return StackTags(cluster_name, SERVICE_TAG_PREFIX, key)


def backend_sg_user(service: Mapping[str, Any]) -> str:
    return f"{BACKEND_SG_USER_TYPE}/{object_key(service)}"


def service_handler(enqueue: Callable[[str], None]) -> FunctionHandler:
    """Handler for the Service informer feeding the Service queue (key ``namespace/name``)."""

    def on_update(old: KubeObject, new: KubeObject) -> None:
        if model_inputs_changed(old, new):
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
        config: ControllerSettings,
        client: KubeClient,
        services: ObjectCache,
        builder: ServiceModelBuilderLike,
        deployer: StackDeployerLike,
        backend_sg: BackendSGUsers,
        events: EventRecorder,
        metrics: LbcControllerMetrics,
        stack_target_groups: StackTargetGroups,
        tgb_cache: TargetGroupBindingCache,
        existing_load_balancers: ExistingLoadBalancerFinder | None,
        on_backend_sg_unused: Callable[[], None] | None = None,
    ) -> None:
        self._cluster_name = config.cluster_name
        self._load_balancer_class = config.load_balancer_class
        self._services = services
        self._builder = builder
        self._existing = existing_load_balancers
        self._steps = StackReconcileSteps(
            controller_name=CONTROLLER_NAME,
            resource=SERVICES,
            client=client,
            deployer=deployer,
            watch_namespace=config.watch_namespace or None,
            tgb_cache=tgb_cache,
            backend_sg=backend_sg,
            events=events,
            metrics=metrics,
            on_backend_sg_unused=on_backend_sg_unused,
            stack_target_groups=stack_target_groups,
            log=_log,
        )

    async def reconcile(self, key: str) -> Result:
        service = self._services.get(key)
        if service is None:
            return Result()  # gone: our finalizer would have kept it until cleaned up
        stack = service_stack_tags(self._cluster_name, key)
        model = await self._build(service, stack)
        if model is None:
            return await self._cleanup(dict(service), stack)
        return await self._deploy(dict(service), model)

    # ----------------------------------------------------------------------------- live Services

    async def _build(self, service: Mapping[str, Any], stack: StackTags) -> StackModel | None:
        live = not is_deleting(service)
        if not (live and is_managed_service(service, self._load_balancer_class)):
            return None
        try:
            with self._steps.stage("build_model"):
                existing = await self._existing.find(stack) if self._existing is not None else None
                return await self._builder.build(service, stack, existing=existing)
        except ModelBuildError as error:
            self._build_failed(service, error)
            raise_if_terminal(f"service {stack.stack_id}", error)
            raise
        except Exception as error:
            # Looking up the existing NLB failed (AWS): retried with backoff.
            self._build_failed(service, error)
            raise

    async def _deploy(self, service: KubeObject, model: StackModel) -> Result:
        steps = self._steps
        [service] = await steps.add_finalizer([service], SERVICE_FINALIZER, "add_finalizers_error")
        steps.model_warnings(model, [service])
        backend_sg_id = await steps.backend_sg_id(model, [backend_sg_user(service)], [service])
        deployed = await steps.deploy(f"service {model.stack_id}", model, backend_sg_id, [service])
        if isinstance(deployed, Result):
            return deployed
        await steps.write_status([service], deployed.result.lb_dns_name)
        if not model.needs_backend_sg:
            steps.release_backend_sg([backend_sg_user(service)])
        if deployed.requeue_after is None:
            steps.reconciled([service])
        return Result(requeue_after=deployed.requeue_after)

    # ----------------------------------------------------------------------------- clean-up

    async def _cleanup(self, service: KubeObject, stack: StackTags) -> Result:
        if not objects.has_finalizer(service, SERVICE_FINALIZER):
            return Result()  # never deployed (the finalizer comes first), or already cleaned up
        steps = self._steps
        if is_deleting(service):
            await self._refuse_protected_deletion(service, stack)
        pending = await steps.delete(f"service {stack.stack_id}", stack, [service])
        if pending is not None:
            return pending
        steps.release_backend_sg([backend_sg_user(service)])
        await steps.clear_status(service)
        await steps.remove_finalizer(
            [service], SERVICE_FINALIZER, "remove_finalizers_error", report_to=[service]
        )
        return Result()

    async def _refuse_protected_deletion(self, service: KubeObject, stack: StackTags) -> None:
        """Upstream: a Service being deleted whose ``aws-load-balancer-attributes`` still say
        ``deletion_protection.enabled=true`` is not cleaned up (retried with backoff) until they
        say false; nothing of its stack is touched meanwhile."""
        ref = ObjectRef.of("Service", service)
        raw = objects.annotations_of(service).get(SVC_LOAD_BALANCER_ATTRIBUTES)
        try:
            protected = deletion_protection_enabled(ref, SVC_LOAD_BALANCER_ATTRIBUTES, raw)
        except ModelBuildError as error:
            self._build_failed(service, error)
            raise_if_terminal(f"service {stack.stack_id}", error)
            raise
        await self._steps.refuse_protected_deletion(
            f"service {stack.stack_id}",
            stack,
            [(ref, SVC_LOAD_BALANCER_ATTRIBUTES)] if protected else [],
            [service],
        )

    # ----------------------------------------------------------------------------- helpers

    def _build_failed(self, service: Mapping[str, Any], error: BaseException) -> None:
        self._steps.fail(
            [service], REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model"
        )
