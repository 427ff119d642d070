"""Framework metrics: upstream names, values read back from an injected registry."""

from __future__ import annotations

import gc

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from framework.clock import FakeClock
from framework.metrics import RECONCILE_RESULTS, default_registry, framework_metrics
from framework.workqueue import DelayingQueue, WorkQueue

UPSTREAM_NAMES = [
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds_bucket",
    "workqueue_work_duration_seconds_bucket",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "workqueue_retries_total",
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_terminal_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds_bucket",
    "controller_runtime_active_workers",
    "controller_runtime_max_concurrent_reconciles",
    "leader_election_master_status",
]


def value(registry: CollectorRegistry, metric: str, **labels: str) -> float | None:
    return registry.get_sample_value(metric, labels)


def test_one_metric_set_per_registry_and_the_default_is_the_process_registry() -> None:
    registry = CollectorRegistry()
    assert framework_metrics(registry) is framework_metrics(registry)
    assert framework_metrics(CollectorRegistry()) is not framework_metrics(registry)
    assert default_registry() is prometheus_client.REGISTRY
    assert framework_metrics() is framework_metrics(prometheus_client.REGISTRY)


def test_exposition_uses_the_upstream_names_and_preinitialises_results() -> None:
    registry = CollectorRegistry()
    metrics = framework_metrics(registry)
    metrics.for_controller("ingress")
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock(), metrics=metrics.queue_metrics("ingress"))
    metrics.leader_status("aws-load-balancer-controller-leader").set(1)
    text = generate_latest(registry).decode()
    for name in UPSTREAM_NAMES:
        assert f"\n{name}{{" in text, name
    for result in RECONCILE_RESULTS:
        assert value(registry, "controller_runtime_reconcile_total", controller="ingress", result=result) == 0
    assert value(registry, "workqueue_depth", name="ingress", controller="ingress") == 0
    assert value(registry, "leader_election_master_status", name="aws-load-balancer-controller-leader") == 1
    assert len(queue) == 0


def test_queue_metrics_track_adds_depth_durations_and_in_flight_work() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    metrics = framework_metrics(registry)
    queue: DelayingQueue[str] = DelayingQueue(clock=clock, metrics=metrics.queue_metrics("q"))
    labels = {"name": "q", "controller": "q"}
    queue.add("a")
    queue.add("a")  # duplicate: not counted
    queue.add("b")
    assert registry.get_sample_value("workqueue_adds_total", labels) == 2
    assert registry.get_sample_value("workqueue_depth", labels) == 2
    clock.advance(2)
    a = queue.get_nowait()
    clock.advance(1)
    b = queue.get_nowait()
    assert registry.get_sample_value("workqueue_depth", labels) == 0
    # Queue waits were 2 s and 3 s.
    assert registry.get_sample_value("workqueue_queue_duration_seconds_count", labels) == 2
    assert registry.get_sample_value("workqueue_queue_duration_seconds_sum", labels) == 5
    assert registry.get_sample_value("workqueue_queue_duration_seconds_bucket", {**labels, "le": "1.0"}) == 0
    assert registry.get_sample_value("workqueue_queue_duration_seconds_bucket", {**labels, "le": "10.0"}) == 2
    clock.advance(3)
    # In flight for 4 s (a) and 3 s (b).
    assert registry.get_sample_value("workqueue_unfinished_work_seconds", labels) == 7
    assert registry.get_sample_value("workqueue_longest_running_processor_seconds", labels) == 4
    queue.done(a)
    queue.done(b)
    assert registry.get_sample_value("workqueue_work_duration_seconds_count", labels) == 2
    assert registry.get_sample_value("workqueue_work_duration_seconds_sum", labels) == 7
    assert registry.get_sample_value("workqueue_unfinished_work_seconds", labels) == 0
    assert registry.get_sample_value("workqueue_longest_running_processor_seconds", labels) == 0
    queue.add_after("a", 5)
    queue.add_after("a", 0)
    assert registry.get_sample_value("workqueue_retries_total", labels) == 2
    queue.add_after("b", 5, retry=False)  # a delay on purpose (coalescing), not a retry
    assert registry.get_sample_value("workqueue_retries_total", labels) == 2
    assert registry.get_sample_value("workqueue_adds_total", labels) == 3
    # Buckets are controller-runtime's 1e-8 .. 1e3 (12 of them, plus +Inf).
    text = generate_latest(registry).decode()
    assert text.count('workqueue_work_duration_seconds_bucket{controller="q"') == 13
    assert 'le="1e-08"' in text
    assert 'le="1000.0"' in text


def test_queue_names_are_unique_among_live_queues_and_reusable_after() -> None:
    registry = CollectorRegistry()
    metrics = framework_metrics(registry)
    queue: WorkQueue[str] = WorkQueue(metrics=metrics.queue_metrics("dup"))
    with pytest.raises(ValueError, match="live work queue"):
        metrics.queue_metrics("dup")
    recorder = metrics.queue_metrics("other")
    first: WorkQueue[str] = WorkQueue(metrics=recorder)
    with pytest.raises(ValueError, match="already attached"):
        WorkQueue(metrics=recorder)
    assert recorder.source() is first
    del queue
    gc.collect()
    replacement: WorkQueue[str] = WorkQueue(metrics=metrics.queue_metrics("dup"))
    replacement.add("x")
    assert registry.get_sample_value("workqueue_depth", {"name": "dup", "controller": "dup"}) == 1


def test_a_collected_queue_reports_zero_depth_and_keeps_its_counters() -> None:
    registry = CollectorRegistry()
    metrics = framework_metrics(registry)
    queue: WorkQueue[str] = WorkQueue(metrics=metrics.queue_metrics("gone"))
    queue.add("x")
    queue.done(queue.get_nowait())
    del queue
    gc.collect()
    labels = {"name": "gone", "controller": "gone"}
    assert registry.get_sample_value("workqueue_depth", labels) == 0
    assert registry.get_sample_value("workqueue_adds_total", labels) == 1
