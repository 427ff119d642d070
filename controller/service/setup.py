"""Wiring of the ``service`` controller (with the ``EnableServiceController`` feature gate): one key
per Service; build the NLB model, deploy it, apply TargetGroupBindings, write status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.aws.api import AwsApi
from controller.backendsg.setup import BackendSGFeature
from controller.config import ControllerSettings
from controller.deploy import StackDeployer
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
from controller.targetgroupbinding import StackTargetGroupDeletions
from framework.controller import Controller, WorkerSettings
from framework.events import EventRecorder
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
    *,
    aws: AwsApi,
    vpc_id: str,
    deployer: StackDeployer,
    backend_sg: BackendSGFeature,
    events: EventRecorder,
    stack_deletions: StackTargetGroupDeletions,
) -> tuple[LeaderRunnable, ...]:
    """Records the Services as backend SG users and, if the controller is enabled, builds it and
    watches Services.

    The users are registered even with the controller disabled: Services it finalized earlier
    still hold the backend SG until their finalizer is gone.
    """
    services = manager.informers.informer(SERVICES)
    backend_sg.users.add_source(lambda: backend_sg_users(services.store.list()))
    if not config.feature_enabled("EnableServiceController"):
        return ()
    controller: Controller[str] = Controller(
        "service",
        ServiceReconciler(
            config=config,
            client=manager.client,
            services=services.store,
            builder=ServiceModelBuilder(config, SecurityGroupResolver(aws, vpc_id)),
            deployer=deployer,
            backend_sg=backend_sg.manager,
            events=events,
            metrics=controller_metrics(manager.registry),
            stack_deletions=stack_deletions,
            existing_load_balancers=AwsExistingLoadBalancerFinder(deployer.elbv2_index),
            on_backend_sg_unused=backend_sg.on_unused,
        ),
        workers=WorkerSettings(max_concurrent_reconciles=config.service_max_concurrent_reconciles),
        registry=manager.registry,
    )
    controller.watch(services, service_handler(controller.queue.add), name="services")
    return (controller,)
