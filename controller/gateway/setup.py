"""Wiring of the Gateway controllers (``gateway.k8s.aws/alb`` and ``gateway.k8s.aws/nlb``): one key per
Gateway; merge its LoadBalancerConfiguration, attach its routes, build and deploy the stack, write
the Gateway API status.

Watches: Gateways; GatewayClasses (re-queue the Gateways of the class); the routes of each enabled
kind (re-queue the Gateways their parentRefs name, before and after the change); Services,
LoadBalancerConfigurations and TargetGroupConfigurations (re-queue the Gateways whose last build
read them, from ``GatewayIndex``); Namespaces (a label change may change which routes a listener's
selector allows). Our own status writes change no spec and re-queue nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from controller.config import ControllerSettings
from controller.gateway.builder import GatewayModelBuilder
from controller.gateway.crd_detection import GatewayControllers
from controller.gateway.index import GatewayIndex
from controller.gateway.lb_config import KIND as LB_CONFIG_KIND
from controller.gateway.reconciler import (
    ALB_GATEWAYS,
    NLB_GATEWAYS,
    GatewayKind,
    GatewayReconciler,
    GatewayStores,
    backend_sg_user,
)
from controller.gateway.resources import (
    GATEWAY_CLASSES,
    GATEWAYS,
    LOAD_BALANCER_CONFIGURATIONS,
    TARGET_GROUP_CONFIGURATIONS,
)
from controller.gateway.routes import gateway_keys_of, namespace_labels_from
from controller.metrics import controller_metrics
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.stack import model_inputs_changed
from controller.stack.namespaces import slim_namespace
from controller.stack.resync import ResyncSource
from controller.stack.wiring import StackFeatureDeps
from framework.controller import Controller, WorkerSettings
from framework.informer import DeletedFinalStateUnknown, FunctionHandler, Store
from framework.kube import NAMESPACES, SERVICES, KubeObject, Resource
from framework.manager import LeaderRunnable, Manager
from framework.objects import has_finalizer, name_of, namespace_of, object_key


def _final(obj: KubeObject | DeletedFinalStateUnknown) -> KubeObject:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


TARGET_GROUP_CONFIG_SERVICE_INDEX: Final = "targetReferenceService"


def target_group_config_services(config: Mapping[str, Any]) -> list[str]:
    """``namespace/name`` of the Service a TargetGroupConfiguration's ``targetReference`` names."""
    reference = (config.get("spec") or {}).get("targetReference") or {}
    if reference.get("kind", "Service") != "Service" or not reference.get("name"):
        return []
    return [f"{namespace_of(config)}/{reference['name']}"]


def _target_group_config_lookup(store: Store) -> Callable[[str, str], Mapping[str, Any] | None]:
    """The TargetGroupConfiguration naming Service ``name`` in ``namespace``, from an index on the
    store (a backend's look-up costs the same whatever the number of configurations)."""
    if TARGET_GROUP_CONFIG_SERVICE_INDEX not in store.indexer_names:
        store.add_indexer(TARGET_GROUP_CONFIG_SERVICE_INDEX, target_group_config_services)

    def lookup(namespace: str, name: str) -> Mapping[str, Any] | None:
        found = store.by_index(TARGET_GROUP_CONFIG_SERVICE_INDEX, f"{namespace}/{name}")
        return min(found, key=object_key) if found else None

    return lookup


def setup(
    config: ControllerSettings,
    manager: Manager,
    deps: StackFeatureDeps,
    enabled: GatewayControllers,
) -> tuple[LeaderRunnable, ...]:
    """Build the enabled Gateway controllers and their watches; register their Gateways as backend
    SG users and with ``resync``. Nothing is watched when neither is enabled (the CRDs may be absent)."""
    kinds = [kind for kind, on in ((ALB_GATEWAYS, enabled.alb), (NLB_GATEWAYS, enabled.nlb)) if on]
    if not kinds:
        return ()
    informers = manager.informers
    gateways = informers.informer(GATEWAYS)
    classes = informers.informer(GATEWAY_CLASSES)
    lb_configs = informers.informer(LOAD_BALANCER_CONFIGURATIONS)
    tg_configs = informers.informer(TARGET_GROUP_CONFIGURATIONS)
    services = informers.informer(SERVICES)
    namespaces = informers.informer(NAMESPACES, transform=slim_namespace)
    route_informers = {
        resource: informers.informer(resource) for kind in kinds for resource in kind.route_resources
    }
    index = GatewayIndex()
    stores = GatewayStores(
        gateways=gateways.store,
        classes=classes.store,
        lb_configs=lb_configs.store,
        routes={resource: informer.store for resource, informer in route_informers.items()},
        namespace_labels=namespace_labels_from(namespaces.store.get),
    )
    builder = GatewayModelBuilder(
        config,
        SecurityGroupResolver(deps.aws, deps.vpc_id),
        services.store.get,
        _target_group_config_lookup(tg_configs.store),
    )
    finalizers = tuple(kind.finalizer for kind in kinds)
    deps.backend_sg.users.add_source(lambda: _backend_sg_users(gateways.store.list(), finalizers))
    controllers: list[LeaderRunnable] = []
    for kind in kinds:
        controller = _controller(kind, config, manager, deps, stores, index, builder)
        handlers = _Handlers(controller.queue.add, index, gateways.store, kind)
        controller.watch(gateways, handlers.gateway, name=f"{kind.controller_name}-gateways")
        controller.watch(classes, handlers.gateway_class, name=f"{kind.controller_name}-classes")
        for resource in kind.route_resources:
            controller.watch(
                route_informers[resource],
                handlers.route(resource),
                name=f"{kind.controller_name}-{resource.plural}",
            )
        controller.watch(services, handlers.dependency("Service"), name=f"{kind.controller_name}-services")
        controller.watch(
            lb_configs, handlers.dependency(LB_CONFIG_KIND), name=f"{kind.controller_name}-lbconfigs"
        )
        controller.watch(tg_configs, handlers.target_group_config, name=f"{kind.controller_name}-tgconfigs")
        controller.watch(namespaces, handlers.namespace, name=f"{kind.controller_name}-namespaces")
        deps.resync.add_source(
            ResyncSource(f"Gateways ({kind.controller_name})", gateways.store, handlers.gateway)
        )
        controllers.append(controller)
    return tuple(controllers)


def _controller(
    kind: GatewayKind,
    config: ControllerSettings,
    manager: Manager,
    deps: StackFeatureDeps,
    stores: GatewayStores,
    index: GatewayIndex,
    builder: GatewayModelBuilder,
) -> Controller[str]:
    return Controller(
        kind.controller_name,
        GatewayReconciler(
            kind=kind,
            config=config,
            client=manager.client,
            stores=stores,
            index=index,
            builder=builder,
            deployer=deps.deployer,
            backend_sg=deps.backend_sg.manager,
            events=deps.events,
            metrics=controller_metrics(manager.registry),
            stack_target_groups=deps.stack_target_groups,
            tgb_cache=deps.tgb_cache,
            on_backend_sg_unused=deps.backend_sg.on_unused,
        ),
        # Upstream's default for its Gateway controllers' --*-max-concurrent-reconciles is 3, as for Ingresses.
        workers=WorkerSettings(max_concurrent_reconciles=config.ingress_max_concurrent_reconciles),
        registry=manager.registry,
    )


def _backend_sg_users(gateways: Iterable[Mapping[str, Any]], finalizers: tuple[str, ...]) -> set[str]:
    """Every Gateway carrying one of our finalizers may hold the backend SG."""
    return {backend_sg_user(g) for g in gateways if any(has_finalizer(g, f) for f in finalizers)}


class _Handlers:
    """Event handlers of one Gateway controller, mapping each event to the Gateway keys it concerns."""

    def __init__(
        self, enqueue: Callable[[str], None], index: GatewayIndex, gateways: Store, kind: GatewayKind
    ) -> None:
        self._enqueue = enqueue
        self._index = index
        self._gateways = gateways
        self._kind = kind
        self.gateway = FunctionHandler(
            add=lambda obj, _initial: enqueue(object_key(obj)),
            update=lambda old, new: enqueue(object_key(new)) if model_inputs_changed(old, new) else None,
            delete=lambda obj: enqueue(object_key(_final(obj))),
        )
        self.gateway_class = FunctionHandler(
            add=lambda obj, _initial: self._class_changed(obj),
            update=lambda old, new: self._class_changed(new) if model_inputs_changed(old, new) else None,
            delete=lambda obj: self._class_changed(_final(obj)),
        )
        self.target_group_config = FunctionHandler(
            add=lambda obj, _initial: self._target_group_config_changed(obj),
            update=lambda old, new: (
                self._target_group_config_changed(old, new) if model_inputs_changed(old, new) else None
            ),
            delete=lambda obj: self._target_group_config_changed(_final(obj)),
        )
        self.namespace = FunctionHandler(
            add=lambda _obj, _initial: None,
            update=lambda old, new: (
                self._all()
                if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels")
                else None
            ),
            delete=lambda _obj: None,
        )

    def route(self, resource: Resource) -> FunctionHandler:
        def changed(obj: KubeObject) -> None:
            for key in sorted(self._index.set_route(resource, object_key(obj), gateway_keys_of(obj))):
                self._enqueue(key)

        def deleted(obj: KubeObject | DeletedFinalStateUnknown) -> None:
            for key in sorted(self._index.set_route(resource, object_key(_final(obj)), ())):
                self._enqueue(key)

        return FunctionHandler(
            add=lambda obj, _initial: changed(obj),
            update=lambda old, new: changed(new) if model_inputs_changed(old, new) else None,
            delete=deleted,
        )

    def dependency(self, kind: str) -> FunctionHandler:
        def changed(obj: KubeObject) -> None:
            for key in sorted(self._index.users_of(f"{kind}:{object_key(obj)}")):
                self._enqueue(key)

        return FunctionHandler(
            add=lambda obj, _initial: changed(obj),
            update=lambda old, new: changed(new) if model_inputs_changed(old, new) else None,
            delete=lambda obj: changed(_final(obj)),
        )

    def _class_changed(self, gateway_class: KubeObject) -> None:
        name = name_of(gateway_class)
        for gateway in self._gateways.list():
            if (gateway.get("spec") or {}).get("gatewayClassName") == name:
                self._enqueue(object_key(gateway))

    def _target_group_config_changed(self, *configs: KubeObject) -> None:
        for config in configs:
            for service in target_group_config_services(config):
                for key in sorted(self._index.users_of(f"Service:{service}")):
                    self._enqueue(key)

    def _all(self) -> None:
        for gateway in self._gateways.list():
            self._enqueue(object_key(gateway))
