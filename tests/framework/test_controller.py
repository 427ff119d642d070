"""Controller: outcome handling, metrics, worker resilience, concurrency bound, stop budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fast_election import eventually
from prometheus_client import CollectorRegistry

from framework.clock import FakeClock
from framework.controller import (
    Controller,
    Result,
    TerminalError,
    WorkerSettings,
    is_reported,
    mark_reported,
)
from framework.informer import FunctionHandler, SharedInformer, object_key
from framework.kube import PODS, KubeClient, KubeObject
from framework.testing.apiserver import StandInApiServer
from framework.workqueue import ItemExponentialFailureRateLimiter

Outcome = Result | BaseException


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


class ScriptedReconciler:
    """Plays back outcomes per key (the last one repeats) and records (key, clock time) calls."""

    def __init__(self, clock: FakeClock, script: dict[str, list[Outcome]]) -> None:
        self.clock = clock
        self.script = script
        self.calls: list[tuple[str, float]] = []

    async def reconcile(self, key: str) -> Result:
        self.calls.append((key, self.clock.now()))
        outcomes = self.script.get(key, [Result()])
        outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@asynccontextmanager
async def running(
    reconciler: object, clock: FakeClock, registry: CollectorRegistry, **options: float | int | None
) -> AsyncIterator[Controller[str]]:
    controller: Controller[str] = Controller(
        "test",
        reconciler,  # type: ignore[arg-type]
        workers=WorkerSettings(**options),  # type: ignore[arg-type]
        clock=clock,
        registry=registry,
    )
    controller.start()
    try:
        yield controller
    finally:
        await controller.stop(timeout=None)


def sample(registry: CollectorRegistry, metric: str, **labels: str) -> float:
    value = registry.get_sample_value(metric, {"controller": "test", **labels})
    assert value is not None, (metric, labels)
    return value


def results(registry: CollectorRegistry) -> dict[str, float]:
    return {
        result: sample(registry, "controller_runtime_reconcile_total", result=result)
        for result in ("error", "requeue", "requeue_after", "success")
    }


async def test_success_forgets_and_counts_and_metrics_start_at_zero() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = ScriptedReconciler(clock, {})
    async with running(reconciler, clock, registry) as controller:
        assert results(registry) == {"error": 0, "requeue": 0, "requeue_after": 0, "success": 0}
        assert sample(registry, "controller_runtime_max_concurrent_reconciles") == 1
        controller.queue.add("a")
        await settle()
        assert reconciler.calls == [("a", 0.0)]
        assert results(registry)["success"] == 1
        assert sample(registry, "controller_runtime_reconcile_errors_total") == 0
        assert sample(registry, "controller_runtime_reconcile_time_seconds_count") == 1
        assert controller.queue.num_requeues("a") == 0


async def test_errors_are_retried_with_exponential_backoff_then_forgotten_on_success() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = ScriptedReconciler(clock, {"a": [RuntimeError("boom"), RuntimeError("boom"), Result()]})
    async with running(reconciler, clock, registry) as controller:
        controller.queue.add("a")
        await settle()
        assert controller.queue.num_requeues("a") == 1
        clock.advance(0.0049)
        await settle()
        assert len(reconciler.calls) == 1  # 5 ms backoff not over yet
        clock.advance(0.0001)
        await settle()
        assert len(reconciler.calls) == 2
        clock.advance(0.01)  # second failure: 10 ms
        await settle()
        assert [time for _, time in reconciler.calls] == pytest.approx([0.0, 0.005, 0.015])
        assert results(registry) == {"error": 2, "requeue": 0, "requeue_after": 0, "success": 1}
        assert sample(registry, "controller_runtime_reconcile_errors_total") == 2
        assert sample(registry, "workqueue_retries_total", name="test") == 2
        assert controller.queue.num_requeues("a") == 0


async def test_terminal_error_is_counted_and_never_retried() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = ScriptedReconciler(clock, {"a": [TerminalError("bad spec")]})
    async with running(reconciler, clock, registry) as controller:
        controller.queue.add("a")
        await settle()
        clock.advance(10_000)
        await settle()
        assert len(reconciler.calls) == 1
        assert sample(registry, "controller_runtime_terminal_reconcile_errors_total") == 1
        assert sample(registry, "controller_runtime_reconcile_errors_total") == 1
        assert results(registry)["error"] == 1
        assert controller.queue.num_requeues("a") == 0
        assert controller.queue.waiting_count == 0


async def test_requeue_after_resets_backoff_and_runs_again_after_the_delay() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = ScriptedReconciler(clock, {"a": [RuntimeError("x"), Result(requeue_after=30), Result()]})
    async with running(reconciler, clock, registry) as controller:
        controller.queue.add("a")
        await settle()
        clock.advance(0.005)
        await settle()
        assert len(reconciler.calls) == 2
        assert controller.queue.num_requeues("a") == 0  # forgotten before the scheduled requeue
        clock.advance(29.99)
        await settle()
        assert len(reconciler.calls) == 2
        clock.advance(0.01)
        await settle()
        assert len(reconciler.calls) == 3
        assert results(registry) == {"error": 1, "requeue": 0, "requeue_after": 1, "success": 1}


async def test_requeue_after_zero_runs_again_at_once() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = ScriptedReconciler(clock, {"a": [Result(requeue_after=0), Result()]})
    async with running(reconciler, clock, registry) as controller:
        controller.queue.add("a")
        await settle()
        assert len(reconciler.calls) == 2


def test_result_and_options_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        Result(requeue_after=-1)
    with pytest.raises(ValueError):
        WorkerSettings(max_concurrent_reconciles=0)
    with pytest.raises(ValueError):
        WorkerSettings(reconcile_timeout=0)


async def test_a_raising_reconcile_does_not_kill_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = ScriptedReconciler(clock, {"bad": [ZeroDivisionError("oops")], "bad2": [KeyError("k")]})
    async with running(reconciler, clock, registry, max_concurrent_reconciles=1) as controller:
        for key in ("bad", "bad2", "good"):
            controller.queue.add(key)
        await settle()
        assert [key for key, _ in reconciler.calls] == ["bad", "bad2", "good"]
        assert results(registry)["success"] == 1
    failures = [record for record in caplog.records if record.levelname == "ERROR"]
    assert failures and failures[0].exc_info is not None  # logged with its traceback
    assert "ZeroDivisionError" in caplog.text


async def test_reported_and_terminal_errors_are_one_line_unexpected_ones_keep_their_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reported = LookupError("security group sg-1 not found,\n  named in an annotation")
    mark_reported(reported)
    assert is_reported(reported) and not is_reported(LookupError("other"))
    script: dict[str, list[Outcome]] = {
        "told": [reported, Result()],
        "bad": [TerminalError("invalid annotation\nvalue")],
        "bug": [KeyError("k"), Result()],
    }
    reconciler = ScriptedReconciler(clock, script)
    async with running(reconciler, clock, registry, max_concurrent_reconciles=1) as controller:
        for key in script:
            controller.queue.add(key)
        await settle()
        clock.advance(1)
        await settle()
        assert results(registry) == {"success": 2.0, "error": 3.0, "requeue_after": 0.0, "requeue": 0.0}
    failures = {
        key: record
        for record in caplog.records
        if record.levelname == "ERROR"
        for key in script
        if f"key={key!r}" in record.getMessage()
    }
    assert set(failures) == {"told", "bad", "bug"}
    for key in ("told", "bad"):
        assert failures[key].exc_info is None, key  # the event already says it all
        assert "\n" not in failures[key].getMessage()
    assert (
        failures["told"].getMessage().endswith("error=security group sg-1 not found, named in an annotation")
    )
    assert failures["bad"].getMessage().endswith("error=invalid annotation value")
    assert failures["bug"].exc_info is not None  # unexpected: the traceback stays


async def test_a_reconcile_returning_something_else_is_an_error() -> None:
    clock, registry = FakeClock(), CollectorRegistry()

    class Sloppy:
        async def reconcile(self, key: str) -> Result:
            return None  # type: ignore[return-value]

    async with running(Sloppy(), clock, registry) as controller:
        controller.queue.add("a")
        await settle()
        assert results(registry)["error"] == 1
        assert controller.queue.num_requeues("a") == 1


class GatedReconciler:
    """Each reconcile blocks until released; tracks concurrency."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.active: set[str] = set()
        self.peak = 0
        self.finished: list[str] = []
        self.cancelled: list[str] = []

    async def reconcile(self, key: str) -> Result:
        self.active.add(key)
        self.peak = max(self.peak, len(self.active))
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.active.discard(key)
        self.finished.append(key)
        return Result()


async def test_concurrency_is_bounded_by_max_concurrent_reconciles() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = GatedReconciler()
    async with running(reconciler, clock, registry, max_concurrent_reconciles=3) as controller:
        for key in "abcdefg":
            controller.queue.add(key)
        await settle()
        assert len(reconciler.active) == 3
        assert sample(registry, "controller_runtime_active_workers") == 3
        assert sample(registry, "controller_runtime_max_concurrent_reconciles") == 3
        reconciler.gate.set()
        await settle()
        assert sorted(reconciler.finished) == list("abcdefg")
        assert reconciler.peak == 3
        assert sample(registry, "controller_runtime_active_workers") == 0


async def test_reconcile_timeout_cancels_and_counts_an_error() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    calls: list[float] = []

    class Slow:
        async def reconcile(self, key: str) -> Result:
            calls.append(clock.now())
            if len(calls) == 1:
                await clock.sleep(100)
            return Result()

    async with running(Slow(), clock, registry, reconcile_timeout=5.0) as controller:
        controller.queue.add("a")
        await clock.wait_for_timers(2)  # the timeout and the reconcile's sleep
        clock.advance(5)
        await settle()
        assert sample(registry, "controller_runtime_reconcile_timeouts_total") == 1
        assert sample(registry, "controller_runtime_reconcile_errors_total") == 1
        assert controller.queue.num_requeues("a") == 1
        clock.advance(0.005)  # retried after the backoff
        await settle()
        assert calls == [0.0, 5.005]


async def test_a_reconcile_raising_its_own_timeout_error_is_not_a_reconcile_timeout() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = ScriptedReconciler(clock, {"a": [TimeoutError("upstream API timed out")]})
    async with running(reconciler, clock, registry, reconcile_timeout=5.0) as controller:
        controller.queue.add("a")
        await settle()
        assert sample(registry, "controller_runtime_reconcile_timeouts_total") == 0
        assert sample(registry, "controller_runtime_reconcile_errors_total") == 1


async def test_stop_waits_for_in_flight_reconciles_that_finish_within_the_budget() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = GatedReconciler()
    controller: Controller[str] = Controller(
        "test",
        reconciler,
        workers=WorkerSettings(max_concurrent_reconciles=2),
        clock=clock,
        registry=registry,
    )
    controller.start()
    for key in "abc":
        controller.queue.add(key)
    await settle()
    stopping = asyncio.create_task(controller.stop(timeout=30))
    await settle()
    assert not stopping.done()
    controller.queue.add("late")  # ignored once stopping
    reconciler.gate.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert sorted(reconciler.finished) == ["a", "b"]  # "c" was still queued: not started at stop
    assert reconciler.cancelled == []
    assert not controller.running
    await controller.stop()  # idempotent
    with pytest.raises(RuntimeError):
        controller.start()


async def test_stop_cancels_reconciles_that_outlive_the_budget() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = GatedReconciler()
    controller: Controller[str] = Controller("test", reconciler, clock=clock, registry=registry)
    controller.start()
    controller.queue.add("stuck")
    await settle()
    stopping = asyncio.create_task(controller.stop(timeout=10))
    await clock.wait_for_timers(1)
    clock.advance(9.9)
    await settle()
    assert not stopping.done()
    clock.advance(0.1)
    await asyncio.wait_for(stopping, timeout=5)
    assert reconciler.cancelled == ["stuck"]
    assert controller.queue.processing_count == 0
    assert sample(registry, "controller_runtime_active_workers") == 0


async def test_stop_before_start_and_concurrent_stops() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    idle: Controller[str] = Controller("idle", ScriptedReconciler(clock, {}), clock=clock, registry=registry)
    await idle.stop()
    reconciler = GatedReconciler()
    controller: Controller[str] = Controller("test", reconciler, clock=clock, registry=registry)
    controller.start()
    controller.queue.add("a")
    await settle()
    first = asyncio.create_task(controller.stop(timeout=None))
    second = asyncio.create_task(controller.stop(timeout=None))
    await settle()
    assert not first.done() and not second.done()
    reconciler.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=5)
    assert reconciler.finished == ["a"]


def test_a_controller_needs_a_name() -> None:
    with pytest.raises(ValueError):
        Controller("", ScriptedReconciler(FakeClock(), {}), registry=CollectorRegistry())


async def test_stop_with_zero_budget_cancels_at_once() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    reconciler = GatedReconciler()
    controller: Controller[str] = Controller("test", reconciler, clock=clock, registry=registry)
    controller.start()
    controller.queue.add("a")
    await settle()
    await asyncio.wait_for(controller.stop(timeout=0), timeout=5)
    assert reconciler.cancelled == ["a"]


async def until_idle(controller: Controller[int], max_steps: int = 100_000) -> None:
    """Yield to the loop until nothing is queued or running (bounded, so a bug fails, not hangs)."""
    queue = controller.queue
    for _ in range(max_steps):
        if len(queue) == queue.processing_count == 0:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"controller did not go idle: {queue!r}")


async def test_no_per_key_state_is_left_after_churn() -> None:
    """1,000 keys fail once, then odd ones requeue once; nothing is left in queue or limiter."""
    clock, registry = FakeClock(), CollectorRegistry()
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    failed: set[int] = set()
    requeued: set[int] = set()

    class Churn:
        async def reconcile(self, key: int) -> Result:
            if key not in failed:
                failed.add(key)
                raise RuntimeError("first try fails")
            if key % 2 and key not in requeued:
                requeued.add(key)
                return Result(requeue_after=1.0)
            return Result()

    controller: Controller[int] = Controller(
        "test",
        Churn(),
        workers=WorkerSettings(max_concurrent_reconciles=4),
        rate_limiter=limiter,
        clock=clock,
        registry=registry,
    )
    controller.start()
    try:
        for key in range(1000):
            controller.queue.add(key)
        await until_idle(controller)
        assert len(failed) == limiter.tracked_items == controller.queue.waiting_count == 1000
        clock.advance(0.005)  # every retry is due (one failure each: 5 ms)
        await until_idle(controller)
        assert limiter.tracked_items == 0
        assert controller.queue.waiting_count == 500
        clock.advance(1.0)  # the odd keys' requeue_after
        await until_idle(controller)
    finally:
        await controller.stop(timeout=None)
    assert results(registry) == {"error": 1000, "requeue": 0, "requeue_after": 500, "success": 1000}
    queue = controller.queue
    assert limiter.tracked_items == queue.waiting_count == 0
    assert queue.dirty_count == queue.processing_count == len(queue) == 0


async def test_watches_feed_the_queue_only_while_the_controller_runs(
    standin_server: StandInApiServer,
) -> None:
    """controller-runtime's Watch: the handler is attached by start (the informer then replays its
    cache as adds, each object once) and detached by stop; before start nothing is queued."""
    clock, registry = FakeClock(), CollectorRegistry()
    reconciled: list[str] = []

    class Recording:
        async def reconcile(self, key: str) -> Result:
            reconciled.append(key)
            return Result()

    def adds() -> float | None:
        return registry.get_sample_value("workqueue_adds_total", {"controller": "pods", "name": "pods"})

    async with KubeClient.from_configuration(standin_server.client_configuration()) as client:
        for name in ("a", "b"):
            await client.create(PODS, pod(name), "default")
        informer = SharedInformer(client, PODS, namespace="default")
        controller: Controller[str] = Controller("pods", Recording(), clock=clock, registry=registry)
        handler = FunctionHandler(
            add=lambda obj, _initial: controller.queue.add(object_key(obj)),
            update=lambda _old, new: controller.queue.add(object_key(new)),
        )
        controller.watch(informer, handler, name="pods")
        informer.start()
        try:
            assert await informer.wait_for_sync(5)
            await client.create(PODS, pod("c"), "default")
            await eventually(lambda: informer.store.get("default/c") is not None)
            await settle()
            assert len(controller.queue) == 0 and adds() == 0
            assert not controller.has_synced

            controller.start()
            with pytest.raises(RuntimeError, match="before start"):
                controller.watch(informer, handler)
            # has_synced: the handler was handed the initial list, so its keys are queued.
            await eventually(lambda: controller.has_synced)
            await eventually(lambda: sorted(reconciled) == ["default/a", "default/b", "default/c"])
            assert adds() == 3
            await client.create(PODS, pod("d"), "default")
            await eventually(lambda: "default/d" in reconciled)

            await controller.stop(timeout=5)
            assert not controller.has_synced
            await client.create(PODS, pod("e"), "default")
            await eventually(lambda: informer.store.get("default/e") is not None)
            await settle()
            assert adds() == 4  # detached: the informer no longer calls the handler
        finally:
            await controller.stop(timeout=0)
            await informer.stop()


def pod(name: str) -> KubeObject:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
