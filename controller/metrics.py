"""The LBC's own controller metrics (upstream-behaviour §6), on an injectable Prometheus registry.

* ``awslbc_controller_reconcile_errors_total{controller,error_category}``: counter of failed
  reconcile steps (requeue-type outcomes are not errors and are not counted).
* ``awslbc_controller_reconcile_stage_duration{controller,reconcile_stage}``: histogram (default
  buckets) of how long each reconcile stage took.

``controller_metrics(registry)`` returns the one set per registry, so every controller can share it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram


class LbcControllerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reconcile_errors = Counter(
            "awslbc_controller_reconcile_errors_total",
            "Counts the number of reconcile errors, categorized by error type.",
            ["controller", "error_category"],
            registry=registry,
        )
        self.reconcile_stage_duration = Histogram(
            "awslbc_controller_reconcile_stage_duration",
            "Latency of each reconcile stage in seconds.",
            ["controller", "reconcile_stage"],
            registry=registry,
        )

    def error(self, controller: str, category: str) -> None:
        self.reconcile_errors.labels(controller=controller, error_category=category).inc()

    @contextlib.contextmanager
    def stage(self, controller: str, stage: str) -> Iterator[None]:
        """Observe the duration of the ``with`` body (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.reconcile_stage_duration.labels(controller=controller, reconcile_stage=stage).observe(
                time.perf_counter() - started
            )


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, LbcControllerMetrics] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def controller_metrics(registry: CollectorRegistry | None = None) -> LbcControllerMetrics:
    """The metric set on ``registry`` (default: the process registry), created once."""
    target = registry if registry is not None else prometheus_client.REGISTRY
    with _lock:
        metrics = _by_registry.get(target)
        if metrics is None:
            metrics = _by_registry[target] = LbcControllerMetrics(target)
        return metrics
