"""The Gateway reconciler (keys ``namespace/name``), one instance per load balancer type.

A live Gateway whose GatewayClass names our controller (``gateway.k8s.aws/alb`` or ``/nlb``):

1. the GatewayClass gets ``Accepted``;
2. merge its ``LoadBalancerConfiguration`` (class and Gateway), attach the routes that name it,
   build the model. Bad input (an unknown SG, an invalid CIDR, a conflicting listener, a
   configuration that does not exist): Warning ``FailedBuildModel`` naming it, the metric
   ``<controller>/build_model_error``, ``Programmed=False`` (reason ``Invalid``) on the Gateway,
   nothing in AWS changes; retried with backoff only when it may resolve by itself (an SG or a
   configuration created later);
3. add the finalizer (``gateway.k8s.aws/alb`` / ``/nlb``), get the shared backend SG if the model
   needs it (one reference count with Ingresses and Services, user ``gateway/<ns>/<name>``), deploy
   the stack and its TargetGroupBindings;
4. write the Gateway's status (``Accepted``, ``Programmed``, the LB's DNS name in ``addresses``,
   each listener's ``attachedRoutes``) and each attached route's ``parents`` entry
   (``Accepted``, ``ResolvedRefs``; a missing Service is ``BackendNotFound``); release the backend SG
   if the model no longer needs it; Normal ``SuccessfullyReconciled``.

A Gateway being deleted, or no longer ours, that carries our finalizer: its stack is deleted
(the LB first, then the bindings, then the rest), the backend SG released, our route status
entries removed and the finalizer dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.annotations import ModelBuildError
from controller.config import ControllerSettings
from controller.finalizers import ALB_GATEWAY_FINALIZER, NLB_GATEWAY_FINALIZER
from controller.gateway.builder import GatewayBuild, GatewayModelBuilder
from controller.gateway.index import GatewayIndex
from controller.gateway.lb_config import KIND as LB_CONFIG_KIND
from controller.gateway.lb_config import gateway_lb_config, parameters_ref
from controller.gateway.resources import (
    ALB_CONTROLLER_NAME,
    ALB_ROUTES,
    GATEWAY_CLASSES,
    GATEWAYS,
    NLB_CONTROLLER_NAME,
    NLB_ROUTES,
)
from controller.gateway.routes import Attachments, Listener, NamespaceLabels, Route, attach
from controller.gateway.status import (
    GatewayOutcome,
    drop_route_status,
    write_class_accepted,
    write_gateway_status,
    write_route_status,
)
from controller.metrics import LbcControllerMetrics
from controller.model.load_balancer import LoadBalancerType
from controller.naming import GATEWAY_ALB_TAG_PREFIX, GATEWAY_NLB_TAG_PREFIX, StackTags
from controller.stack import (
    REASON_FAILED_BUILD_MODEL,
    BackendSGUsers,
    ObjectCache,
    StackDeployerLike,
    StackReconcileSteps,
    TargetGroupBindingCache,
    raise_if_terminal,
)
from controller.targetgroupbinding import StackTargetGroups
from framework import objects
from framework.controller import Result
from framework.events import EventRecorder
from framework.kube import KubeClient, KubeObject, Resource
from framework.objects import is_deleting, object_key

_log = logging.getLogger(__name__)

BACKEND_SG_USER_TYPE: Final = "gateway"


@dataclass(frozen=True)
class GatewayKind:
    """What differs between the ALB and the NLB Gateway controllers."""

    controller_name: str
    """Also the GatewayClass ``spec.controllerName`` it serves."""
    load_balancer_type: LoadBalancerType
    finalizer: str
    tag_prefix: str
    route_resources: tuple[Resource, ...]


ALB_GATEWAYS: Final = GatewayKind(
    ALB_CONTROLLER_NAME,
    LoadBalancerType.APPLICATION,
    ALB_GATEWAY_FINALIZER,
    GATEWAY_ALB_TAG_PREFIX,
    ALB_ROUTES,
)
NLB_GATEWAYS: Final = GatewayKind(
    NLB_CONTROLLER_NAME, LoadBalancerType.NETWORK, NLB_GATEWAY_FINALIZER, GATEWAY_NLB_TAG_PREFIX, NLB_ROUTES
)


def backend_sg_user(gateway: Mapping[str, Any]) -> str:
    return f"{BACKEND_SG_USER_TYPE}/{object_key(gateway)}"


@dataclass(frozen=True)
class GatewayStores:
    """The informer stores the reconciler reads."""

    gateways: ObjectCache
    classes: ObjectCache
    lb_configs: ObjectCache
    routes: Mapping[Resource, ObjectCache]
    namespace_labels: NamespaceLabels


class GatewayReconciler:
    """``Reconciler[str]`` for Gateway keys of one ``GatewayKind``; see the module docstring."""

    def __init__(
        self,
        *,
        kind: GatewayKind,
        config: ControllerSettings,
        client: KubeClient,
        stores: GatewayStores,
        index: GatewayIndex,
        builder: GatewayModelBuilder,
        deployer: StackDeployerLike,
        backend_sg: BackendSGUsers,
        events: EventRecorder,
        metrics: LbcControllerMetrics,
        stack_target_groups: StackTargetGroups,
        tgb_cache: TargetGroupBindingCache,
        on_backend_sg_unused: Callable[[], None] | None = None,
    ) -> None:
        self._kind = kind
        self._cluster_name = config.cluster_name
        self._client = client
        self._stores = stores
        self._index = index
        self._builder = builder
        self._steps = StackReconcileSteps(
            controller_name=kind.controller_name,
            resource=GATEWAYS,
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

    def is_ours(self, gateway: Mapping[str, Any]) -> bool:
        gateway_class = self._class_of(gateway)
        return gateway_class is not None and (gateway_class.get("spec") or {}).get("controllerName") == (
            self._kind.controller_name
        )

    async def reconcile(self, key: str) -> Result:
        gateway = self._stores.gateways.get(key)
        if gateway is None:
            return Result()  # gone: our finalizer would have kept it until cleaned up
        stack = StackTags(self._cluster_name, self._kind.tag_prefix, key)
        if is_deleting(gateway) or not self.is_ours(gateway):
            return await self._cleanup(dict(gateway), stack)
        gateway_class = self._class_of(gateway)
        assert gateway_class is not None  # is_ours
        await write_class_accepted(self._client, GATEWAY_CLASSES, gateway_class)
        listeners = [Listener.parse(raw) for raw in (gateway.get("spec") or {}).get("listeners") or ()]
        attachments = self._attach(gateway, listeners)
        build = await self._build(gateway, gateway_class, listeners, attachments, stack)
        return await self._deploy(dict(gateway), build, listeners, attachments)

    # ----------------------------------------------------------------------------- live Gateways

    def _class_of(self, gateway: Mapping[str, Any]) -> KubeObject | None:
        name = str((gateway.get("spec") or {}).get("gatewayClassName") or "")
        return self._stores.classes.get(name) if name else None

    def _attach(self, gateway: Mapping[str, Any], listeners: list[Listener]) -> Attachments:
        routes = []
        for resource, route_key in self._index.routes_of(object_key(gateway)):
            store = self._stores.routes.get(resource)
            route = store.get(route_key) if store is not None else None
            if route is not None:
                routes.append(Route(resource.kind, route))
        return attach(gateway, listeners, routes, self._stores.namespace_labels)

    async def _build(
        self,
        gateway: KubeObject,
        gateway_class: KubeObject,
        listeners: list[Listener],
        attachments: Attachments,
        stack: StackTags,
    ) -> GatewayBuild:
        key = object_key(gateway)
        config_keys = _lb_config_keys(gateway_class, gateway)
        try:
            with self._steps.stage("build_model"):
                lb_config = gateway_lb_config(gateway_class, gateway, self._stores.lb_configs.get)
                build = await self._builder.build(
                    gateway, self._kind.load_balancer_type, lb_config, listeners, attachments, stack
                )
        except Exception as error:
            # Keep watching what the failed build read: fixing any of it re-queues the Gateway.
            self._index.set_uses(key, config_keys)
            self._steps.fail(
                [gateway], REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model"
            )
            await write_gateway_status(
                self._client,
                GATEWAYS,
                gateway,
                listeners,
                attachments,
                GatewayOutcome(None, error=str(error)),
            )
            if isinstance(error, ModelBuildError):
                raise_if_terminal(f"gateway {key}", error)
            raise
        self._index.set_uses(key, {*config_keys, *(f"Service:{s}" for s in build.services)})
        return build

    async def _deploy(
        self, gateway: KubeObject, build: GatewayBuild, listeners: list[Listener], attachments: Attachments
    ) -> Result:
        steps, model = self._steps, build.model
        [gateway] = await steps.add_finalizer([gateway], self._kind.finalizer, "add_finalizers_error")
        user = backend_sg_user(gateway)
        backend_sg_id = await steps.backend_sg_id(model, [user], [gateway])
        deployed = await steps.deploy(f"gateway {model.stack_id}", model, backend_sg_id, [gateway])
        if isinstance(deployed, Result):
            return deployed
        outcome = GatewayOutcome(
            deployed.result.lb_dns_name, deployed.result.lb_arn, pending=deployed.requeue_after is not None
        )
        await write_gateway_status(self._client, GATEWAYS, gateway, listeners, attachments, outcome)
        await self._write_route_statuses(object_key(gateway), attachments, build)
        if not model.needs_backend_sg:
            steps.release_backend_sg([user])
        if deployed.requeue_after is None:
            steps.reconciled([gateway])
        return Result(requeue_after=deployed.requeue_after)

    async def _write_route_statuses(
        self, gateway_key: str, attachments: Attachments, build: GatewayBuild
    ) -> None:
        resources = {resource.kind: resource for resource in self._kind.route_resources}
        for attachment in attachments.routes:
            await write_route_status(
                self._client,
                resources[attachment.route.kind],
                attachment,
                self._kind.controller_name,
                build.unresolved.get(attachment.route.key, ()),
            )
        now = [(resources[a.route.kind], a.route.key) for a in attachments.routes]
        await self._drop_route_statuses(gateway_key, self._index.set_attached(gateway_key, now))

    async def _drop_route_statuses(self, gateway_key: str, routes: frozenset[tuple[Resource, str]]) -> None:
        for resource, route_key in routes:
            store = self._stores.routes.get(resource)
            route = store.get(route_key) if store is not None else None
            if route is not None:
                await drop_route_status(
                    self._client, resource, route, gateway_key, self._kind.controller_name
                )

    # ----------------------------------------------------------------------------- clean-up

    async def _cleanup(self, gateway: KubeObject, stack: StackTags) -> Result:
        key = object_key(gateway)
        if not objects.has_finalizer(gateway, self._kind.finalizer):
            return Result()  # never deployed by us, or already cleaned up
        steps = self._steps
        pending = await steps.delete(f"gateway {stack.stack_id}", stack, [gateway])
        if pending is not None:
            return pending
        steps.release_backend_sg([backend_sg_user(gateway)])
        await self._drop_route_statuses(key, self._index.set_attached(key, ()))
        self._index.forget(key)
        await steps.remove_finalizer(
            [gateway], self._kind.finalizer, "remove_finalizers_error", report_to=[gateway]
        )
        return Result()


def _lb_config_keys(gateway_class: Mapping[str, Any], gateway: Mapping[str, Any]) -> set[str]:
    """``LoadBalancerConfiguration:<ns>/<name>`` of the configurations the class and Gateway name."""
    keys = set()
    class_ref = parameters_ref(gateway_class, ("spec", "parametersRef"))
    if class_ref is not None:
        keys.add(f"{LB_CONFIG_KIND}:{class_ref[1] or ''}/{class_ref[0]}")
    gateway_ref = parameters_ref(gateway, ("spec", "infrastructure", "parametersRef"))
    if gateway_ref is not None:
        keys.add(f"{LB_CONFIG_KIND}:{objects.namespace_of(gateway)}/{gateway_ref[0]}")
    return keys
