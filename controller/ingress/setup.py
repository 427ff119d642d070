"""Wiring of the ``ingress`` controller: one key per Ingress group; build the model, deploy it,
apply TargetGroupBindings, write status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.config import ControllerSettings
from controller.finalizers import is_ingress_finalizer
from controller.ingress.builder import IngressModelBuilder
from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS, IngressClassMatcher
from controller.ingress.class_source import InformerIngressClasses, slim_namespace
from controller.ingress.index import add_ingress_indexers
from controller.ingress.reconciler import IngressGroupReconciler, backend_sg_user, ingress_group_handlers
from controller.metrics import controller_metrics
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.stack.resync import ResyncSource
from controller.stack.wiring import StackFeatureDeps
from framework.controller import Controller, WorkerSettings
from framework.kube import INGRESS_CLASSES, INGRESSES, NAMESPACES, SERVICES
from framework.manager import LeaderRunnable, Manager
from framework.objects import finalizers_of


def backend_sg_users(ingresses: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every Ingress carrying one of our finalizers may hold the backend SG."""
    users: set[str] = set()
    for ingress in ingresses:
        if any(is_ingress_finalizer(f) for f in finalizers_of(ingress)):
            users.add(backend_sg_user(ingress))
    return users


def setup(
    config: ControllerSettings,
    manager: Manager,
    deps: StackFeatureDeps,
) -> tuple[LeaderRunnable, ...]:
    """Build the controller, watch Ingresses, Services, IngressClasses, IngressClassParams and
    Namespaces (for the params' namespaceSelector), index the Ingresses by group and by backend
    Service (``controller.ingress.index``), register the Ingresses as backend SG users and with
    ``resync`` (every sync period re-enqueues every group)."""
    informers = manager.informers
    ingresses = informers.informer(INGRESSES)
    ingress_classes = informers.informer(INGRESS_CLASSES)
    class_params = informers.informer(INGRESS_CLASS_PARAMS)
    namespaces = informers.informer(NAMESPACES, transform=slim_namespace)
    services = informers.informer(SERVICES)
    add_ingress_indexers(ingresses.store)
    matcher = IngressClassMatcher(
        InformerIngressClasses(ingress_classes.store, class_params.store, namespaces.store),
        ingress_class=config.ingress_class,
    )
    controller: Controller[str] = Controller(
        "ingress",
        IngressGroupReconciler(
            config=config,
            client=manager.client,
            ingresses=ingresses.store,
            matcher=matcher,
            builder=IngressModelBuilder(
                config,
                SecurityGroupResolver(deps.aws, deps.vpc_id),
                lambda namespace, name: services.store.get(f"{namespace}/{name}"),
            ),
            deployer=deps.deployer,
            backend_sg=deps.backend_sg.manager,
            events=deps.events,
            metrics=controller_metrics(manager.registry),
            stack_target_groups=deps.stack_target_groups,
            tgb_cache=deps.tgb_cache,
            on_backend_sg_unused=deps.backend_sg.on_unused,
        ),
        workers=WorkerSettings(max_concurrent_reconciles=config.ingress_max_concurrent_reconciles),
        registry=manager.registry,
    )
    handlers = ingress_group_handlers(controller.queue.add, matcher, ingresses.store, ingress_classes.store)
    controller.watch(ingresses, handlers.ingress, name="ingress-groups")
    controller.watch(services, handlers.service, name="ingress-group-services")
    controller.watch(ingress_classes, handlers.ingress_class, name="ingress-group-classes")
    controller.watch(class_params, handlers.ingress_class_params, name="ingress-group-class-params")
    controller.watch(namespaces, handlers.namespace, name="ingress-group-namespaces")
    # Replaying the Ingresses enqueues every group (a Service replay would only repeat those keys).
    deps.resync.add_source(ResyncSource("Ingresses", ingresses.store, handlers.ingress))
    deps.backend_sg.users.add_source(lambda: backend_sg_users(ingresses.store.list()))
    return (controller,)
