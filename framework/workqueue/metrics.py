"""Work-queue metrics with the upstream names, recorded cheaply and exported on scrape.

The queue calls its ``QueueMetrics`` hooks on every add/get/done, so those hooks must cost next to
nothing (the work-queue benchmark targets >= 200,000 add+get+done per second). Instead of
``prometheus_client`` metric objects (a lock and a label lookup per update) each queue keeps plain
counters and bucket arrays, and one ``WorkqueueCollector`` per registry turns them into metric
families only when Prometheus scrapes.

Gauges that describe queue state are not tracked per operation at all. ``workqueue_depth``,
``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds`` are read
from the queue (``QueueStateSource``) at scrape time, which also replaces client-go's 500 ms ticker.

Names and labels follow controller-runtime (``pkg/metrics/workqueue.go``): subsystem ``workqueue``,
labels ``name`` and ``controller``, duration histograms with exponential buckets 1e-8 s .. 1e3 s.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = [
    "DURATION_BUCKETS",
    "QueueMetrics",
    "QueueStateSource",
    "WorkqueueCollector",
]

DURATION_BUCKETS: tuple[float, ...] = tuple(1e-8 * 10**i for i in range(12))
"""controller-runtime's ``ExponentialBuckets(10e-9, 10, 12)``: 1e-8, 1e-7, ..., 1e3 seconds."""

_LABELS = ("name", "controller")

# prometheus_client's own bucket-label formatting, so ``le`` values match its Histogram exactly.
_go_float: Callable[[float], str] = floatToGoString


class QueueStateSource(Protocol):
    """What the collector reads from a live queue at scrape time."""

    def metrics_depth(self) -> int:
        """Items added and not yet handed to a worker."""

    def metrics_processing_since(self) -> list[float]:
        """Clock readings at which each in-flight item was handed to a worker."""

    def metrics_now(self) -> float:
        """The queue's clock, so in-flight durations use the same time base."""


class _Histogram:
    """A non-cumulative bucket array; ``observe`` is one bisect and two additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last slot is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left finds the first bound >= value, i.e. the ``le`` bucket the value belongs to.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            buckets.append((_go_float(bound), float(running)))
        return buckets


class QueueMetrics:
    """Per-queue counters, owned by a ``WorkqueueCollector``; the queue feeds them.

    The queue calls ``queue_duration.observe`` on ``get``, ``work_duration.observe`` on ``done``
    and ``on_retry`` on ``add_after``. ``workqueue_adds_total`` needs no hook at all: every counted
    add creates exactly one dirty entry and every ``get`` consumes one, so adds = gets + depth.
    """

    __slots__ = ("_source", "controller", "name", "queue_duration", "retries", "work_duration")

    def __init__(self, name: str, controller: str) -> None:
        self.name = name
        self.controller = controller
        self.retries = 0
        self.queue_duration = _Histogram(DURATION_BUCKETS)
        self.work_duration = _Histogram(DURATION_BUCKETS)
        self._source: weakref.ref[QueueStateSource] | None = None

    def attach(self, source: QueueStateSource) -> None:
        """Bind the queue whose state the gauges report (held weakly). One queue per recorder."""
        if self._source is not None:
            raise ValueError(f"work queue metrics {self.name!r} are already attached to a queue")
        self._source = weakref.ref(source)

    def source(self) -> QueueStateSource | None:
        return self._source() if self._source is not None else None

    def on_retry(self) -> None:
        self.retries += 1

    def adds(self, depth: int) -> int:
        """Adds that were not duplicates, given the queue's current depth."""
        return sum(self.queue_duration.counts) + depth


class WorkqueueCollector(Collector):
    """Exports every registered queue's ``workqueue_*`` series. Register one per registry."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], QueueMetrics] = {}

    def queue_metrics(self, name: str, controller: str | None = None) -> QueueMetrics:
        """A new recorder for queue ``name`` (``controller`` defaults to ``name``, as upstream).

        Names must be unique among live queues, as controller names are upstream. Once the previous
        queue with this name has been garbage-collected its series start again from zero (a
        counter reset, which Prometheus' ``rate()`` handles).
        """
        key = (name, controller if controller is not None else name)
        previous = self._queues.get(key)
        if previous is not None and previous.source() is not None:
            raise ValueError(f"a live work queue already reports metrics as name={name!r}")
        recorder = self._queues[key] = QueueMetrics(*key)
        return recorder

    def describe(self) -> Iterator[Metric]:
        # Declares the names so the registry rejects a second collector exporting them.
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        depth, adds, queue_duration, work_duration, unfinished, longest, retries = self._families()
        for recorder in list(self._queues.values()):
            labels = [recorder.name, recorder.controller]
            source = recorder.source()
            in_flight_for: list[float] = []
            queued = 0
            if source is not None:
                queued = source.metrics_depth()
                now = source.metrics_now()
                in_flight_for = [max(now - started, 0.0) for started in source.metrics_processing_since()]
            depth.add_metric(labels, float(queued))
            adds.add_metric(labels, float(recorder.adds(queued)))
            retries.add_metric(labels, float(recorder.retries))
            unfinished.add_metric(labels, sum(in_flight_for))
            longest.add_metric(labels, max(in_flight_for, default=0.0))
            for family, histogram in (
                (queue_duration, recorder.queue_duration),
                (work_duration, recorder.work_duration),
            ):
                family.add_metric(labels, histogram.cumulative_buckets(), histogram.total)
        yield from (depth, adds, queue_duration, work_duration, unfinished, longest, retries)

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily,
        CounterMetricFamily,
        HistogramMetricFamily,
        HistogramMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        CounterMetricFamily,
    ]:
        return (
            GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=_LABELS),
            CounterMetricFamily(
                "workqueue_adds_total", "Total number of adds handled by workqueue", labels=_LABELS
            ),
            HistogramMetricFamily(
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested",
                labels=_LABELS,
            ),
            HistogramMetricFamily(
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from workqueue takes.",
                labels=_LABELS,
            ),
            GaugeMetricFamily(
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has been done that is in progress and hasn't been observed "
                "by work_duration. Large values indicate stuck threads. One can deduce the number of "
                "stuck threads by observing the rate at which this increases.",
                labels=_LABELS,
            ),
            GaugeMetricFamily(
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running.",
                labels=_LABELS,
            ),
            CounterMetricFamily(
                "workqueue_retries_total", "Total number of retries handled by workqueue", labels=_LABELS
            ),
        )
