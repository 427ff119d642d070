"""framework.events against the stand-in API server over HTTP, in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio

from framework.clock import FakeClock
from framework.events import EVENTS_V1, EventRecorder, EventRecorderSettings, ObjectReference
from framework.kube import KubeClient
from framework.testing.apiserver import FaultRule, StandInApiServer

WAIT = 10.0
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "default", "uid": "uid-1"},
}


class WallClock:
    """A wall clock that moves with the fake clock (eventTime / series timestamps)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._epoch = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self._epoch + timedelta(seconds=self._clock.now())


@pytest_asyncio.fixture
async def client(standin_server: StandInApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        yield kube


def _recorder(client: KubeClient, clock: FakeClock, **settings: Any) -> EventRecorder:
    values: dict[str, Any] = {"reporting_instance": "controller-pod-1", "retry_delay": 0.0, **settings}
    return EventRecorder(client, EventRecorderSettings(**values), clock=clock, wall_clock=WallClock(clock))


async def _events(client: KubeClient, namespace: str = "default") -> list[dict[str, Any]]:
    listed = await client.list(EVENTS_V1, namespace)
    return sorted(listed["items"], key=lambda e: e["metadata"]["name"])


async def _flush(recorder: EventRecorder) -> None:
    async with asyncio.timeout(WAIT):
        await recorder.flush()


async def test_records_an_events_k8s_io_v1_event(client: KubeClient) -> None:
    clock = FakeClock()
    async with _recorder(client, clock) as recorder:
        recorder.warning(POD, "FailedNetworkReconcile", "expected exactly one securityGroup")
        await _flush(recorder)
    [event] = await _events(client)
    assert event["regarding"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "web-0",
        "namespace": "default",
        "uid": "uid-1",
    }
    assert event["type"] == "Warning"
    assert event["reason"] == "FailedNetworkReconcile"
    assert event["action"] == "FailedNetworkReconcile"
    assert event["note"] == "expected exactly one securityGroup"
    assert event["reportingController"] == "elbv2.k8s.aws"
    assert event["reportingInstance"] == "controller-pod-1"
    assert event["metadata"]["name"].startswith("web-0.")
    assert "series" not in event


async def test_repeats_within_the_window_patch_the_series(client: KubeClient) -> None:
    clock = FakeClock()
    async with _recorder(client, clock) as recorder:
        recorder.normal(POD, "SuccessfullyReconciled", "ok")
        await _flush(recorder)
        clock.advance(10)
        recorder.normal(POD, "SuccessfullyReconciled", "ok")
        recorder.normal(POD, "SuccessfullyReconciled", "ok")  # coalesced into the queued patch
        await _flush(recorder)
        [event] = await _events(client)
        assert event["series"]["count"] == 3
        assert event["series"]["lastObservedTime"] == "2026-01-01T00:00:10.000000Z"
        # A different note is a different event.
        recorder.normal(POD, "SuccessfullyReconciled", "other")
        # Past the window (6 min after the last occurrence): a new Event.
        clock.advance(361)
        recorder.normal(POD, "SuccessfullyReconciled", "ok")
        await _flush(recorder)
    events = await _events(client)
    assert [(e["note"], (e.get("series") or {}).get("count")) for e in events] == [
        ("ok", 3),
        ("other", None),
        ("ok", None),
    ]


async def test_series_event_deleted_on_the_server_is_recreated(client: KubeClient) -> None:
    clock = FakeClock()
    async with _recorder(client, clock) as recorder:
        recorder.warning(POD, "BackendNotFound", "svc missing")
        await _flush(recorder)
        [event] = await _events(client)
        await client.request("DELETE", EVENTS_V1.object_path(event["metadata"]["name"], "default"))
        recorder.warning(POD, "BackendNotFound", "svc missing")
        await _flush(recorder)
    [again] = await _events(client)
    assert again["metadata"]["name"] != event["metadata"]["name"]
    assert again["series"]["count"] == 2


async def test_spam_filter_allows_a_burst_of_25_then_one_per_five_minutes(client: KubeClient) -> None:
    clock = FakeClock()
    async with _recorder(client, clock) as recorder:
        for index in range(30):
            recorder.warning(POD, f"Reason{index}", "spam")
        assert recorder.dropped == 5
        clock.advance(299)
        recorder.warning(POD, "Late", "spam")
        assert recorder.dropped == 6
        clock.advance(1)
        recorder.warning(POD, "Late", "spam")
        # Another object has its own bucket.
        recorder.warning(ObjectReference("v1", "Node", "node-1"), "Other", "fine")
        await _flush(recorder)
    events = await _events(client)
    # 25 from the burst, one refilled token, and the Node's (cluster-scoped: its Event lives in default).
    assert len(events) == 27
    assert sum(e["regarding"]["kind"] == "Node" for e in events) == 1
    assert recorder.dropped == 6


async def test_failures_are_logged_not_raised_and_transient_ones_retried(
    client: KubeClient, standin_server: StandInApiServer
) -> None:
    clock = FakeClock()
    standin_server.faults.add(FaultRule(verb="create", resource="events", status=500, times=2))
    async with _recorder(client, clock) as recorder:
        recorder.warning(POD, "Transient", "retried")
        await _flush(recorder)
        assert recorder.failed_writes == 0
        standin_server.faults.add(FaultRule(verb="create", resource="events", status=403, times=1))
        recorder.warning(POD, "Forbidden", "not retried")
        await _flush(recorder)
        assert recorder.failed_writes == 1
    assert [e["reason"] for e in await _events(client)] == ["Transient"]


async def test_full_queue_drops_instead_of_blocking(client: KubeClient) -> None:
    clock = FakeClock()
    recorder = _recorder(client, clock, queue_size=1)
    recorder.warning(POD, "A", "1")
    recorder.warning(POD, "B", "2")
    recorder.warning(POD, "C", "3")
    assert recorder.dropped == 2
    recorder.start()
    await recorder.stop()
    assert [e["reason"] for e in await _events(client)] == ["A"]
    # Stopped: further events are dropped, not queued.
    recorder.warning(POD, "D", "4")
    assert recorder.dropped == 3


async def test_stop_drains_within_its_timeout_then_cancels(
    client: KubeClient, standin_server: StandInApiServer
) -> None:
    clock = FakeClock()
    recorder = _recorder(client, clock)
    recorder.start()
    recorder.warning(POD, "Quick", "written before stop returns")
    await _flush(recorder)
    standin_server.faults.add(FaultRule(verb="create", resource="events", status=None, delay_seconds=30))
    recorder.warning(POD, "Slow", "never answered in time")
    stopping = asyncio.create_task(recorder.stop(timeout=5.0))
    async with asyncio.timeout(WAIT):
        await clock.wait_for_timers(1)
    clock.advance(5.0)
    async with asyncio.timeout(WAIT):
        await stopping
    assert [e["reason"] for e in await _events(client)] == ["Quick"]


async def test_invalid_input_is_logged_not_raised(client: KubeClient) -> None:
    clock = FakeClock()
    async with _recorder(client, clock) as recorder:
        recorder.record(POD, "Bogus", "Reason", "bad type")  # type: ignore[arg-type]
        await _flush(recorder)
    assert await _events(client) == []
