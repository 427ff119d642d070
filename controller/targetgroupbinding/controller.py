"""Wiring: the ``targetGroupBinding`` controller = reconciler + work queue + informer handlers."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.config import ControllerSettings
from controller.endpointsg.discovery import EndpointSGDiscovery
from controller.endpointsg.ownership import RuleOwnership
from controller.metrics import controller_metrics
from controller.targetgroupbinding.contributions import ContributionPublisher
from controller.targetgroupbinding.handlers import BindingEventHandlers
from controller.targetgroupbinding.informers import BindingInformers
from controller.targetgroupbinding.model import CONTROLLER_NAME
from controller.targetgroupbinding.reconciler import ReconcilerSettings, TargetGroupBindingReconciler
from controller.targetgroupbinding.stack_target_groups import StackTargetGroups
from controller.targetgroupbinding.targets import TargetRegistrar
from framework.clock import REAL_CLOCK, Clock
from framework.controller import Controller, WorkerSettings
from framework.events import EventRecorder
from framework.kube import KubeClient
from framework.workqueue import ItemExponentialFailureRateLimiter

BASE_RETRY_DELAY = 0.005
"""Upstream's TGB rate limiter: exponential from 5 ms up to ``max_exponential_backoff_delay``."""


@dataclass(frozen=True)
class TargetGroupBindingSettings:
    max_concurrent_reconciles: int = 3
    max_exponential_backoff_delay: float = 1000.0
    requeue_duration: float = 15.0

    @classmethod
    def from_config(cls, config: ControllerSettings) -> TargetGroupBindingSettings:
        return cls(
            max_concurrent_reconciles=config.targetgroupbinding_max_concurrent_reconciles,
            max_exponential_backoff_delay=config.targetgroupbinding_max_exponential_backoff_delay,
            requeue_duration=config.targetgroupbinding_requeue_duration,
        )


class TargetGroupBindingController:
    """Build before the informers start (it adds indices and handlers to them); ``start`` once they
    have synced, then call ``stop`` on shutdown or lost leadership."""

    def __init__(
        self,
        *,
        client: KubeClient,
        informers: BindingInformers,
        aws: AwsApi,
        discovery: EndpointSGDiscovery,
        ownership: RuleOwnership,
        events: EventRecorder,
        stack_target_groups: StackTargetGroups,
        settings: TargetGroupBindingSettings = TargetGroupBindingSettings(),
        clock: Clock = REAL_CLOCK,
        registry: CollectorRegistry | None = None,
    ) -> None:
        informers.add_indexers()
        self.reconciler = TargetGroupBindingReconciler(
            client,
            informers,
            TargetRegistrar(aws),
            ContributionPublisher(discovery, ownership),
            events,
            controller_metrics(registry),
            stack_target_groups,
            ReconcilerSettings(requeue_duration=settings.requeue_duration),
        )
        self.controller: Controller[str] = Controller(
            CONTROLLER_NAME,
            self.reconciler,
            workers=WorkerSettings(max_concurrent_reconciles=settings.max_concurrent_reconciles),
            rate_limiter=ItemExponentialFailureRateLimiter(
                BASE_RETRY_DELAY, settings.max_exponential_backoff_delay
            ),
            clock=clock,
            registry=registry,
        )
        self.handlers = BindingEventHandlers(
            informers, self.controller.queue.add, ownership.set_expected_tgbs
        )
        for watch in self.handlers.watches():
            self.controller.watch(watch.informer, watch.handler, name=watch.name)

    @property
    def name(self) -> str:
        return self.controller.name

    def start(self) -> None:
        # The informers have synced by now: make sure the rule ownership knows every TGB with networking
        # before the handlers (attached by the controller's start) replay the cache.
        self.handlers.refresh_expected()
        self.controller.start()

    async def stop(self, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109 - clock-driven
        await self.controller.stop(timeout)
