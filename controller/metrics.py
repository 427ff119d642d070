"""The LBC's own controller metrics (upstream-behaviour §6), on an injectable Prometheus registry.

* ``awslbc_controller_reconcile_errors_total{controller,error_category}``: counter of failed
  reconcile steps (requeue-type outcomes are not errors and are not counted).
* ``awslbc_controller_reconcile_stage_duration{controller,reconcile_stage}``: histogram (default
  buckets) of how long each reconcile stage took.

``controller_metrics(registry)`` returns the one set per registry, so every controller can share it.

Ours, for the rules quota (``--sg-rules-quota``), from ``security_group_rule_metrics(registry)``:

* ``awslbc_security_group_rules{security_group_id}``: inbound rules an SG we manage rules on uses
  against the quota, counted as AWS counts them (ours and others'). One series per such SG, removed
  when we stop managing it.
* ``awslbc_security_group_rules_over_quota{security_group_id}``: rules that SG would need beyond the
  quota (0 when everything fits); the rules beyond it are not applied.
* ``awslbc_security_group_rules_quota``: the quota itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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


class SecurityGroupRuleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rules = Gauge(
            "awslbc_security_group_rules",
            "Inbound rules of a security group counted against the rules-per-security-group quota.",
            ["security_group_id"],
            registry=registry,
        )
        self.over_quota = Gauge(
            "awslbc_security_group_rules_over_quota",
            "Inbound rules a security group would need beyond the quota (not applied).",
            ["security_group_id"],
            registry=registry,
        )
        self.quota = Gauge(
            "awslbc_security_group_rules_quota",
            "The rules-per-security-group quota the controller keeps every security group within.",
            registry=registry,
        )

    def observe(self, group_id: str, *, used: int, over_quota: int) -> None:
        self.rules.labels(security_group_id=group_id).set(used)
        self.over_quota.labels(security_group_id=group_id).set(over_quota)

    def forget(self, group_id: str) -> None:
        """We no longer manage rules on ``group_id``: drop its series."""
        for gauge in (self.rules, self.over_quota):
            with contextlib.suppress(KeyError):
                gauge.remove(group_id)


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, LbcControllerMetrics] = weakref.WeakKeyDictionary()
_sg_rules_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, SecurityGroupRuleMetrics] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def controller_metrics(registry: CollectorRegistry | None = None) -> LbcControllerMetrics:
    """The metric set on ``registry`` (default: the process registry), created once."""
    target = registry if registry is not None else prometheus_client.REGISTRY
    with _lock:
        metrics = _by_registry.get(target)
        if metrics is None:
            metrics = _by_registry[target] = LbcControllerMetrics(target)
        return metrics


def security_group_rule_metrics(registry: CollectorRegistry | None = None) -> SecurityGroupRuleMetrics:
    """The rules-quota metric set on ``registry`` (default: the process registry), created once."""
    target = registry if registry is not None else prometheus_client.REGISTRY
    with _lock:
        metrics = _sg_rules_by_registry.get(target)
        if metrics is None:
            metrics = _sg_rules_by_registry[target] = SecurityGroupRuleMetrics(target)
        return metrics
