"""The controllers that own load-balancer stacks (Ingress groups, Services) and the backend SG.

Built on the manager's shared informers; ``StackControllers.leader_runnables()`` lists what runs
while leading, in start order:

``backendSecurityGroupUsers``  once per leadership: the backend SG's users are recomputed from the
                              cluster (every Ingress/Service carrying our finalizer), so an unused
                              backend SG is deleted even after a restart (upstream cannot);
``backendSecurityGroup``       one key: delete the auto-created backend SG once nobody uses it,
                              requeued with backoff while AWS answers DependencyViolation;
``ingress``, ``service``       build the model, deploy it, apply TargetGroupBindings, status.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.backendsg import BackendSGManager, BackendSGSettings
from controller.backendsg.reconciler import BACKEND_SG_KEY, BackendSGReconciler
from controller.config import ControllerConfig
from controller.deploy import StackDeployer
from controller.endpointsg.reconciler import EndpointSGRules
from controller.endpointsg.service import EndpointRuleService
from controller.finalizers import SERVICE_FINALIZER, is_ingress_finalizer
from controller.ingress.builder import IngressModelBuilder
from controller.ingress.class_matcher import IngressClassMatcher
from controller.ingress.reconciler import (
    IngressGroupReconciler,
    ingress_group_handlers,
)
from controller.ingress.reconciler import (
    backend_sg_user as ingress_user,
)
from controller.leader_task import LeaderTask
from controller.metrics import controller_metrics
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.service.builder import ServiceModelBuilder
from controller.service.reconciler import (
    AwsExistingLoadBalancerFinder,
    ServiceReconciler,
    service_handler,
)
from controller.service.reconciler import (
    backend_sg_user as service_user,
)
from framework.controller import Controller, ControllerOptions
from framework.events import EventRecorder
from framework.informer import SharedInformer, Store
from framework.kube import INGRESS_CLASSES, INGRESSES, SERVICES, KubeClient
from framework.manager import LeaderRunnable, Manager
from framework.objects import finalizers_of, has_finalizer

logger = logging.getLogger(__name__)


class InformerIngressClasses:
    """``IngressClassSource`` over the IngressClass informer.

    IngressClassParams (upstream's ``elbv2.k8s.aws`` CRD for class-wide settings) is not served by
    this controller, so a class that references params gets none and its Ingresses' annotations
    apply unchanged.
    """

    def __init__(self, classes: Store) -> None:
        self._classes = classes

    def get_ingress_class(self, name: str) -> Mapping[str, Any] | None:
        return self._classes.get(name)

    def list_ingress_classes(self) -> Iterable[Mapping[str, Any]]:
        return self._classes.list()

    def get_ingress_class_params(self, name: str) -> Mapping[str, Any] | None:
        return None


def backend_sg_users_in_cluster(
    ingresses: Iterable[Mapping[str, Any]], services: Iterable[Mapping[str, Any]]
) -> set[str]:
    """Every object carrying one of our finalizers may hold the backend SG.

    A superset of the true users is safe: each object's next reconcile releases what it does not
    need, and the SG is deleted only when the set is empty. A subset is not (upstream-behaviour §3.4).
    """
    users: set[str] = set()
    for ingress in ingresses:
        if any(is_ingress_finalizer(f) for f in finalizers_of(ingress)):
            users.add(ingress_user(ingress))
    for service in services:
        if has_finalizer(service, SERVICE_FINALIZER):
            users.add(service_user(service))
    return users


class BackendSGUsersResync(LeaderTask):
    """On leadership: hand the backend SG manager its users from the synced caches.

    ``start`` computes the set synchronously and the task's first step installs it, so no Ingress
    or Service worker (started after this runnable) can register a user that the resync then drops.
    """

    name = "backendSecurityGroupUsers"

    def __init__(
        self,
        manager: BackendSGManager,
        backend_sg_controller: Controller[str],
        ingresses: SharedInformer,
        services: SharedInformer,
    ) -> None:
        super().__init__()
        self._manager = manager
        self._controller = backend_sg_controller
        self._ingresses = ingresses
        self._services = services

    def start(self) -> None:
        users = backend_sg_users_in_cluster(self._ingresses.store.list(), self._services.store.list())
        self._spawn(self._resync(users))

    async def _resync(self, users: set[str]) -> None:
        logger.info("Backend security group users from the cluster: %d", len(users))
        try:
            outcome = await self._manager.resync_users(users)
        except AwsApiError as error:
            logger.warning("Backend security group deletion check failed, retrying: %s", error)
            self._controller.queue.add_rate_limited(BACKEND_SG_KEY)
            return
        if outcome.requeue_after is not None:
            self._controller.queue.add_after(BACKEND_SG_KEY, outcome.requeue_after)


class EndpointReferenceStripper:
    """The deployer's DependencyViolation hook: a managed SG we want to delete is still the source of
    rules on endpoint SGs. Track those SGs and reconcile them now; rules no binding needs any more
    (the LB's bindings are deleted before its SG) are revoked, and the deployer's requeue retries."""

    def __init__(
        self, api: AwsApi, *, vpc_id: str, endpoint_rules: EndpointRuleService, rules: EndpointSGRules
    ) -> None:
        self._api = api
        self._vpc_id = vpc_id
        self._endpoint_rules = endpoint_rules
        self._rules = rules

    async def __call__(self, group_id: str) -> object:
        referencing = await self._api.paginate(
            "ec2",
            "DescribeSecurityGroups",
            "SecurityGroups",
            Filters=[
                {"Name": "vpc-id", "Values": [self._vpc_id]},
                {"Name": "ip-permission.group-id", "Values": [group_id]},
            ],
        )
        ids = sorted({str(g["GroupId"]) for g in referencing} - {group_id})
        self._rules.forget_converged()
        self._endpoint_rules.recheck(ids)
        return ids


class StackControllers:
    """Builds the Ingress, Service and backend-SG controllers and registers their handlers."""

    def __init__(
        self,
        config: ControllerConfig,
        *,
        manager: Manager,
        kube: KubeClient,
        aws: AwsApi,
        vpc_id: str,
        reader: SecurityGroupReader,
        events: EventRecorder,
        endpoint_rules: EndpointRuleService,
        endpoint_sg_rules: EndpointSGRules,
        registry: CollectorRegistry,
    ) -> None:
        informers = manager.informers
        ingresses = informers.informer(INGRESSES)
        ingress_classes = informers.informer(INGRESS_CLASSES)
        services = informers.informer(SERVICES)
        metrics = controller_metrics(registry)
        sg_resolver = SecurityGroupResolver(aws, vpc_id)
        deployer = StackDeployer(
            aws,
            reader,
            cluster_name=config.cluster_name,
            vpc_id=vpc_id,
            external_managed_tags=config.external_managed_tags,
            on_dependency_violation=EndpointReferenceStripper(
                aws, vpc_id=vpc_id, endpoint_rules=endpoint_rules, rules=endpoint_sg_rules
            ),
        )
        self.backend_sg = BackendSGManager(
            BackendSGSettings.from_config(config, vpc_id),
            aws,
            sg_manager=SecurityGroupManager(aws, reader),
            reader=reader,
        )
        self.backend_sg_controller: Controller[str] = Controller(
            "backendSecurityGroup", BackendSGReconciler(self.backend_sg), registry=registry
        )

        def backend_sg_unused() -> None:
            self.backend_sg_controller.queue.add(BACKEND_SG_KEY)

        matcher = IngressClassMatcher(
            InformerIngressClasses(ingress_classes.store), ingress_class=config.ingress_class
        )
        self.ingress_controller: Controller[str] = Controller(
            "ingress",
            IngressGroupReconciler(
                config=config,
                client=kube,
                ingresses=ingresses.store,
                matcher=matcher,
                builder=IngressModelBuilder(
                    config, sg_resolver, lambda namespace, name: services.store.get(f"{namespace}/{name}")
                ),
                deployer=deployer,
                backend_sg=self.backend_sg,
                events=events,
                metrics=metrics,
                on_backend_sg_unused=backend_sg_unused,
            ),
            options=ControllerOptions(max_concurrent_reconciles=config.ingress_max_concurrent_reconciles),
            registry=registry,
        )
        handlers = ingress_group_handlers(self.ingress_controller.queue.add, matcher, ingresses.store)
        self.ingress_controller.watch(ingresses, handlers.ingress, name="ingress-groups")
        self.ingress_controller.watch(services, handlers.service, name="ingress-group-services")
        self.ingress_controller.watch(ingress_classes, handlers.ingress_class, name="ingress-group-classes")

        self.service_controller: Controller[str] | None = None
        if config.feature_enabled("EnableServiceController"):
            self.service_controller = Controller(
                "service",
                ServiceReconciler(
                    config=config,
                    client=kube,
                    services=services.store,
                    builder=ServiceModelBuilder(config, sg_resolver),
                    deployer=deployer,
                    backend_sg=self.backend_sg,
                    events=events,
                    metrics=metrics,
                    existing_load_balancers=AwsExistingLoadBalancerFinder(aws, vpc_id=vpc_id),
                    on_backend_sg_unused=backend_sg_unused,
                ),
                options=ControllerOptions(max_concurrent_reconciles=config.service_max_concurrent_reconciles),
                registry=registry,
            )
            self.service_controller.watch(
                services, service_handler(self.service_controller.queue.add), name="services"
            )
        self._users_resync = BackendSGUsersResync(
            self.backend_sg, self.backend_sg_controller, ingresses, services
        )

    def leader_runnables(self) -> list[LeaderRunnable]:
        runnables: list[LeaderRunnable] = [
            self._users_resync,
            self.backend_sg_controller,
            self.ingress_controller,
        ]
        if self.service_controller is not None:
            runnables.append(self.service_controller)
        return runnables
