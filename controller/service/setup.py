"""Wiring of the ``service`` controller (with the ``EnableServiceController`` feature gate): one key
per Service; build the NLB model, deploy it, apply TargetGroupBindings, write status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.config import ControllerSettings
from controller.finalizers import SERVICE_FINALIZER
from controller.metrics import controller_metrics
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.service.builder import ServiceModelBuilder
from controller.service.reconciler import (
    AwsExistingLoadBalancerFinder,
    ServiceReconciler,
    backend_sg_user,
    service_handler,
)
from controller.stack.resync import ResyncSource
from controller.stack.wiring import StackFeatureDeps
from framework.controller import Controller, WorkerSettings
from framework.kube import SERVICES
from framework.manager import LeaderRunnable, Manager
from framework.objects import has_finalizer


def backend_sg_users(services: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every Service carrying our finalizer may hold the backend SG."""
    users: set[str] = set()
    for service in services:
        if has_finalizer(service, SERVICE_FINALIZER):
            users.add(backend_sg_user(service))
    return users


def setup(
    config: ControllerSettings,
    manager: Manager,
    deps: StackFeatureDeps,
) -> tuple[LeaderRunnable, ...]:
    """Records the Services as backend SG users and, if the controller is enabled, builds it and
    watches Services, registering them with ``resync`` (every sync period re-enqueues every Service).

    The users are registered even with the controller disabled: Services it finalized earlier
    still hold the backend SG until their finalizer is gone.
    """
    services = manager.informers.informer(SERVICES)
    deps.backend_sg.users.add_source(lambda: backend_sg_users(services.store.list()))
    if not config.feature_enabled("EnableServiceController"):
        return ()
    controller: Controller[str] = Controller(
        "service",
        ServiceReconciler(
            config=config,
            client=manager.client,
            services=services.store,
            builder=ServiceModelBuilder(config, SecurityGroupResolver(deps.aws, deps.vpc_id)),
            deployer=deps.deployer,
            backend_sg=deps.backend_sg.manager,
            events=deps.events,
            metrics=controller_metrics(manager.registry),
            stack_target_groups=deps.stack_target_groups,
            tgb_cache=deps.tgb_cache,
            existing_load_balancers=AwsExistingLoadBalancerFinder(deps.deployer.elbv2_index),
            on_backend_sg_unused=deps.backend_sg.on_unused,
        ),
        workers=WorkerSettings(max_concurrent_reconciles=config.service_max_concurrent_reconciles),
        registry=manager.registry,
    )
    handler = service_handler(controller.queue.add)
    controller.watch(services, handler, name="services")
    deps.resync.add_source(ResyncSource("Services", services.store, handler))
    return (controller,)
