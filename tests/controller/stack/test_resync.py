"""The periodic stack resync: caches refreshed first, then every cached object re-delivered."""

from __future__ import annotations

from controller.stack.resync import ResyncSource, StackResync
from framework.clock import FakeClock
from framework.informer.handlers import FunctionHandler
from framework.informer.store import Store
from framework.kube import KubeObject


def _obj(namespace: str, name: str) -> KubeObject:
    return {"metadata": {"namespace": namespace, "name": name}}


class RecordingRefresher:
    def __init__(self, log: list[str], *, fail: bool = False) -> None:
        self._log = log
        self._fail = fail

    async def refresh(self) -> None:
        self._log.append("refresh")
        if self._fail:
            raise RuntimeError("describe failed")


def _recording_source(name: str, log: list[str], *objects: KubeObject) -> ResyncSource:
    store = Store()
    for obj in objects:
        store.upsert(obj)

    def on_update(old: KubeObject, new: KubeObject) -> None:
        assert old is new  # what an informer resync delivers
        log.append(f"{name}:{new['metadata']['name']}")

    return ResyncSource(name, store, FunctionHandler(update=on_update))


async def test_every_sync_period_refreshes_then_redelivers_every_cached_object() -> None:
    clock = FakeClock()
    log: list[str] = []
    resync = StackResync(sync_period=600.0, clock=clock)
    resync.add_refresher(RecordingRefresher(log))
    resync.add_source(_recording_source("ingresses", log, _obj("a", "one"), _obj("b", "two")))
    resync.add_source(_recording_source("services", log, _obj("a", "nlb")))
    resync.start()
    try:
        await clock.wait_for_timers(1)
        assert log == []  # leadership's initial list already enqueued everything
        clock.advance(600.0)
        await clock.wait_for_timers(1)
        assert log[0] == "refresh"
        assert sorted(log[1:]) == ["ingresses:one", "ingresses:two", "services:nlb"]
        log.clear()
        clock.advance(600.0)
        await clock.wait_for_timers(1)
        assert len(log) == 4  # and again the next period
    finally:
        await resync.stop()


async def test_a_failed_refresh_does_not_skip_the_resync() -> None:
    log: list[str] = []
    resync = StackResync(sync_period=600.0, clock=FakeClock())
    resync.add_refresher(RecordingRefresher(log, fail=True))
    resync.add_source(_recording_source("ingresses", log, _obj("a", "one")))
    await resync.resync_once()
    assert log == ["refresh", "ingresses:one"]


async def test_coroutine_handlers_are_awaited() -> None:
    delivered: list[str] = []
    store = Store()
    store.upsert(_obj("a", "one"))

    async def on_update(_old: KubeObject, new: KubeObject) -> None:
        delivered.append(new["metadata"]["name"])

    resync = StackResync(sync_period=600.0, clock=FakeClock())
    resync.add_source(ResyncSource("ingresses", store, FunctionHandler(update=on_update)))
    await resync.resync_once()
    assert delivered == ["one"]
