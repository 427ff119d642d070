"""Prometheus metrics of the framework, with controller-runtime's names, on an injectable registry.

Every component takes an optional ``prometheus_client.CollectorRegistry``; ``None`` means the
process default (``prometheus_client.REGISTRY``, which also carries the process and platform
collectors, like controller-runtime's registry carries the Go and process ones). Tests pass a fresh
``CollectorRegistry()`` and read values back with ``registry.get_sample_value(...)``.

``framework_metrics(registry)`` returns the one ``FrameworkMetrics`` set for a registry, creating
and registering it on first use, so any number of controllers can share a registry without
"Duplicated timeseries" errors.

Series (labels in braces):

* ``workqueue_*{name,controller}``: see ``framework.workqueue.metrics``.
* ``controller_runtime_reconcile_total{controller,result}``, result in error / requeue /
  requeue_after / success, each pre-initialised to 0 when a controller is registered.
* ``controller_runtime_reconcile_errors_total{controller}``,
  ``controller_runtime_terminal_reconcile_errors_total{controller}``,
  ``controller_runtime_reconcile_timeouts_total{controller}``.
* ``controller_runtime_reconcile_time_seconds{controller}`` (histogram, 5 ms .. 60 s).
* ``controller_runtime_active_workers{controller}``,
  ``controller_runtime_max_concurrent_reconciles{controller}``.
* ``leader_election_master_status{name}``: 1 while this process leads lease ``name``, else 0.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from framework.workqueue.metrics import QueueMetrics, WorkqueueCollector

__all__ = [
    "RECONCILE_RESULTS",
    "RECONCILE_TIME_BUCKETS",
    "ControllerMetrics",
    "FrameworkMetrics",
    "default_registry",
    "framework_metrics",
]

RECONCILE_RESULTS = ("error", "requeue", "requeue_after", "success")
"""Values of the ``result`` label of ``controller_runtime_reconcile_total``."""

RECONCILE_TIME_BUCKETS: tuple[float, ...] = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    *(0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    *(6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)
"""controller-runtime's buckets for ``controller_runtime_reconcile_time_seconds``."""


def default_registry() -> CollectorRegistry:
    """The process-wide registry used when a component is given none."""
    return prometheus_client.REGISTRY


@dataclass(frozen=True)
class ControllerMetrics:
    """One controller's labelled children, resolved once so updates skip the label lookup."""

    reconcile_total: dict[str, Counter]  # by result label
    reconcile_errors: Counter
    terminal_reconcile_errors: Counter
    reconcile_timeouts: Counter
    reconcile_time: Histogram
    active_workers: Gauge
    max_concurrent_reconciles: Gauge


class FrameworkMetrics:
    """All framework metric families registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.workqueue = WorkqueueCollector()
        registry.register(self.workqueue)
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self.terminal_reconcile_errors = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self.reconcile_timeouts = Counter(
            "controller_runtime_reconcile_timeouts_total",
            "Total number of reconciliation timeouts per controller",
            ["controller"],
            registry=registry,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=RECONCILE_TIME_BUCKETS,
            registry=registry,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=registry,
        )
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
            registry=registry,
        )
        self.leader_election_master_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
            "1 indicates master. 'name' is the string used to identify the lease.",
            ["name"],
            registry=registry,
        )

    def for_controller(self, controller: str) -> ControllerMetrics:
        """Resolve (and pre-initialise to 0) every series of ``controller``."""
        return ControllerMetrics(
            reconcile_total={
                result: self.reconcile_total.labels(controller=controller, result=result)
                for result in RECONCILE_RESULTS
            },
            reconcile_errors=self.reconcile_errors.labels(controller=controller),
            terminal_reconcile_errors=self.terminal_reconcile_errors.labels(controller=controller),
            reconcile_timeouts=self.reconcile_timeouts.labels(controller=controller),
            reconcile_time=self.reconcile_time.labels(controller=controller),
            active_workers=self.active_workers.labels(controller=controller),
            max_concurrent_reconciles=self.max_concurrent_reconciles.labels(controller=controller),
        )

    def queue_metrics(self, name: str, controller: str | None = None) -> QueueMetrics:
        """A fresh recorder for a work queue (see ``WorkqueueCollector.queue_metrics``)."""
        return self.workqueue.queue_metrics(name, controller)

    def leader_status(self, lease_name: str) -> Gauge:
        """The ``leader_election_master_status{name=lease_name}`` child (set it to 1 or 0)."""
        return self.leader_election_master_status.labels(name=lease_name)


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, FrameworkMetrics] = weakref.WeakKeyDictionary()
_by_registry_lock = threading.Lock()


def framework_metrics(registry: CollectorRegistry | None = None) -> FrameworkMetrics:
    """The framework's metric set on ``registry`` (default: the process registry), made once."""
    target = registry if registry is not None else default_registry()
    with _by_registry_lock:
        metrics = _by_registry.get(target)
        if metrics is None:
            metrics = _by_registry[target] = FrameworkMetrics(target)
        return metrics
