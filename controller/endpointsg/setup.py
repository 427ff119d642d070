"""Wiring of endpoint-SG rule management: the ``endpointSecurityGroup`` controller and what feeds it.

``endpointSecurityGroup`` has one key per node/pod ENI security group: desired = packed union of
every TargetGroupBinding's contributions; authorize, then revoke ours; at start-up the passes
wait (``StartupHold``) until every binding has published, at most ``StartupHoldSettings.timeout``.
The TargetGroupBinding feature publishes contributions to ``EndpointSGFeature.ownership`` and finds
the SGs with ``discovery``; the stack deployer calls ``reference_stripper`` on DependencyViolation.
The maintenance task tracks cluster-tagged SGs once per leadership, then re-checks every tracked SG
every ``--sync-period``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from controller.aws.api import AwsApi
from controller.config import ControllerSettings
from controller.endpointsg.budget_report import ForwardedWarnings
from controller.endpointsg.discovery import EndpointSGDiscovery
from controller.endpointsg.eni_sg import EniSGSelector
from controller.endpointsg.maintenance import EndpointSGMaintenance
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.endpointsg.reference_stripper import EndpointReferenceStripper
from controller.endpointsg.startup_hold import (
    DEFAULT_STARTUP_HOLD,
    ControllerWork,
    StartupHold,
    StartupHoldSettings,
)
from controller.metrics import SecurityGroupRuleMetrics, security_group_rule_metrics
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_reader import SecurityGroupReader
from framework.controller import Controller, WorkerSettings
from framework.manager import LeaderRunnable, Manager
from framework.workqueue import DelayingQueue

ENDPOINT_SG_CONTROLLER: Final = "endpointSecurityGroup"
ENDPOINT_SG_WORKERS: Final = 3


@dataclass(frozen=True)
class EndpointSGFeature:
    """What the other features use of endpoint-SG rule management, and its leader-only tasks."""

    ownership: RuleOwnership
    discovery: EndpointSGDiscovery
    reference_stripper: EndpointReferenceStripper
    leader_tasks: tuple[LeaderRunnable, ...]
    """Started first, so the queue that every binding publishes into is served from the start."""
    maintenance: LeaderRunnable
    """Started after every other controller (and so stopped last): background work that only feeds
    the endpoint-SG queue (a GC pass once per leadership, then the periodic re-check)."""
    binding_warnings: ForwardedWarnings
    """Where the rules that do not fit ``--sg-rules-quota`` (or were merged to fit) are told: the
    TargetGroupBinding feature sets its ``target``."""
    rule_metrics: SecurityGroupRuleMetrics
    """The rules-quota metrics (``awslbc_security_group_rules*``), shared with the managed SGs."""
    startup_hold: StartupHold
    """Holds the first passes until the bindings have published (see ``hold_for_stacks``)."""

    def hold_for_stacks(self, stack_tasks: Iterable[LeaderRunnable]) -> None:
        """At a cold start the bindings come from the stacks' first pass: the start-up hold waits
        for the stack controllers among ``stack_tasks`` to drain too."""
        for task in stack_tasks:
            if isinstance(task, Controller):
                self.startup_hold.add_upstream(ControllerWork(task))


def enqueue_coalesced(queue: DelayingQueue[str], sg_id: str, window: float) -> None:
    """Schedule a pass of ``sg_id`` ``window`` seconds from the first change of its wanted rules:
    changes inside the window join that pass (the earliest ready time wins), which reads the wanted
    rules as they are when it runs. ``window`` 0: at once."""
    if window > 0:
        queue.add_after(sg_id, window, retry=False)
    else:
        queue.add(sg_id)


def setup(
    config: ControllerSettings,
    manager: Manager,
    *,
    aws: AwsApi,
    reader: SecurityGroupReader,
    vpc_id: str,
    startup_hold: StartupHoldSettings = DEFAULT_STARTUP_HOLD,
) -> EndpointSGFeature:

    def enqueue(sg_id: str) -> None:
        # Bound late: the controller needs the reconciler, which reads the ownership this feeds.
        enqueue_coalesced(controller.queue, sg_id, config.endpoint_sg_coalesce_window)

    ownership = RuleOwnership(
        enqueue,
        max_port_ranges_per_source=config.max_port_ranges_per_source,
        merge_port_ranges=not config.disable_restricted_sg_rules,
    )
    warnings = ForwardedWarnings()
    hold = StartupHold(ownership, settings=startup_hold)
    quota_metrics = security_group_rule_metrics(manager.registry)
    quota_metrics.quota.set(config.sg_rules_quota)
    endpoint_sg_reconciler = EndpointSGReconciler(
        ownership,
        SecurityGroupRuleReconciler(aws, reader, quota=config.sg_rules_quota),
        startup_hold=hold,
        quota=config.sg_rules_quota,
        warnings=warnings,
        metrics=quota_metrics,
    )
    controller: Controller[str] = Controller(
        ENDPOINT_SG_CONTROLLER,
        endpoint_sg_reconciler,
        workers=WorkerSettings(max_concurrent_reconciles=ENDPOINT_SG_WORKERS),
        registry=manager.registry,
    )
    discovery = EndpointSGDiscovery(
        aws,
        vpc_id=vpc_id,
        selector=EniSGSelector(config.cluster_name, dict(config.service_target_eni_security_group_tags)),
        reader=reader,
    )
    return EndpointSGFeature(
        ownership=ownership,
        discovery=discovery,
        reference_stripper=EndpointReferenceStripper(
            reader, vpc_id=vpc_id, ownership=ownership, reconciler=endpoint_sg_reconciler
        ),
        leader_tasks=(controller,),
        binding_warnings=warnings,
        rule_metrics=quota_metrics,
        maintenance=EndpointSGMaintenance(
            ownership,
            endpoint_sg_reconciler,
            reader=reader,
            vpc_id=vpc_id,
            cluster_name=config.cluster_name,
            sync_period=config.sync_period,
        ),
        startup_hold=hold,
    )
