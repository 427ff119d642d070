"""core/v1 Events and events.k8s.io/v1 Events are two views of one stored resource (conformance):
a write through either API is read, listed and watched through the other, with the field renames
of the real server's conversion (note↔message, regarding↔involvedObject, ...)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from apiserver_test_helpers import raw_request
from kubernetes_asyncio import client, watch

_EVENT_TIME = "2026-01-01T00:00:00.000000Z"


def _new_style(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name},
        "eventTime": _EVENT_TIME,
        "reportingController": "example.com/controller",
        "reportingInstance": "controller-0",
        "action": "Reconcile",
        "reason": "Synced",
        "type": "Warning",
        "note": "hello",
        "regarding": {"kind": "Service", "name": "web", "namespace": namespace, "apiVersion": "v1"},
        "related": {"kind": "Node", "name": "node-1", "apiVersion": "v1"},
        "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:05.000000Z"},
    }


def _core_style(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Service", "name": "db", "namespace": namespace, "apiVersion": "v1"},
        "reason": "Failed",
        "message": "it broke",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:02Z",
        "count": 3,
        "type": "Warning",
    }


def _core_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/events" + (f"/{name}" if name else "")


def _events_path(namespace: str, name: str = "") -> str:
    return f"/apis/events.k8s.io/v1/namespaces/{namespace}/events" + (f"/{name}" if name else "")


async def _post(api: client.ApiClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created = await raw_request(
        api, "POST", path, body=json.dumps(body).encode(), content_type="application/json"
    )
    assert status == 201, created
    result: dict[str, Any] = created
    return result


async def _get(api: client.ApiClient, path: str) -> dict[str, Any]:
    status, found = await raw_request(api, "GET", path)
    assert status == 200, found
    result: dict[str, Any] = found
    return result


async def _first_event(stream: Any, within: float = 5.0) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in stream:
            received: dict[str, Any] = event
            return received
        raise AssertionError("the watch ended without an event")

    return await asyncio.wait_for(first(), within)


async def test_event_created_through_events_api_reads_as_core_event(
    kube_client: client.ApiClient, namespace: str
) -> None:
    created = await _post(kube_client, _events_path(namespace), _new_style("ev-new", namespace))
    core = await _get(kube_client, _core_path(namespace, "ev-new"))
    assert core["apiVersion"] == "v1" and core["kind"] == "Event"
    assert core["metadata"]["uid"] == created["metadata"]["uid"]
    assert core["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert {key: core[key] for key in ("message", "involvedObject", "reportingComponent")} == {
        "message": "hello",
        "involvedObject": {"kind": "Service", "name": "web", "namespace": namespace, "apiVersion": "v1"},
        "reportingComponent": "example.com/controller",
    }
    for same in ("related", "reportingInstance", "series", "eventTime", "action", "reason", "type"):
        assert core[same] == created[same], same
    for renamed_away in ("note", "regarding", "reportingController"):
        assert renamed_away not in core
    # `kubectl get events` lists it from the core API.
    listed = await _get(kube_client, _core_path(namespace))
    assert listed["kind"] == "EventList" and listed["apiVersion"] == "v1"
    assert [(item["metadata"]["name"], item["message"]) for item in listed["items"]] == [("ev-new", "hello")]


async def test_event_created_through_core_api_reads_as_events_api_event(
    kube_client: client.ApiClient, namespace: str
) -> None:
    created = await _post(kube_client, _core_path(namespace), _core_style("ev-core", namespace))
    new = await _get(kube_client, _events_path(namespace, "ev-core"))
    assert new["apiVersion"] == "events.k8s.io/v1" and new["kind"] == "Event"
    assert new["metadata"]["uid"] == created["metadata"]["uid"]
    expected = {
        "note": "it broke",
        "regarding": created["involvedObject"],
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
        "deprecatedLastTimestamp": "2026-01-01T00:00:02Z",
        "deprecatedCount": 3,
        "reason": "Failed",
        "type": "Warning",
    }
    assert {key: new.get(key) for key in expected} == expected
    for renamed_away in ("message", "involvedObject", "source", "firstTimestamp", "lastTimestamp", "count"):
        assert renamed_away not in new
    listed = await _get(kube_client, _events_path(namespace))
    assert listed["kind"] == "EventList" and listed["apiVersion"] == "events.k8s.io/v1"
    assert [(item["metadata"]["name"], item["note"]) for item in listed["items"]] == [("ev-core", "it broke")]
    # One object: deleting it through the other API removes it from both.
    status, _ = await raw_request(kube_client, "DELETE", _events_path(namespace, "ev-core"))
    assert status == 200
    status, _ = await raw_request(kube_client, "GET", _core_path(namespace, "ev-core"))
    assert status == 404


async def test_core_watch_sees_writes_through_events_api(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    since = (await core.list_namespaced_event(namespace)).metadata.resource_version
    await _post(kube_client, _events_path(namespace), _new_style("ev-watched", namespace))
    async with watch.Watch().stream(
        core.list_namespaced_event, namespace, resource_version=since, timeout_seconds=5
    ) as stream:
        event = await _first_event(stream)
    seen: client.CoreV1Event = event["object"]
    assert event["type"] == "ADDED" and seen.metadata.name == "ev-watched"
    assert (seen.message, seen.involved_object.name, seen.reporting_component) == (
        "hello",
        "web",
        "example.com/controller",
    )


async def test_events_api_watch_sees_writes_through_core_api(
    kube_client: client.ApiClient, namespace: str
) -> None:
    await _post(kube_client, _events_path(namespace), _new_style("ev-patched", namespace))
    events = client.EventsV1Api(kube_client)
    since = (await events.list_namespaced_event(namespace)).metadata.resource_version
    await client.CoreV1Api(kube_client).patch_namespaced_event(
        "ev-patched", namespace, {"message": "changed", "count": 4}
    )
    async with watch.Watch().stream(
        events.list_namespaced_event, namespace, resource_version=since, timeout_seconds=5
    ) as stream:
        event = await _first_event(stream)
    seen: client.EventsV1Event = event["object"]
    assert event["type"] == "MODIFIED" and seen.metadata.name == "ev-patched"
    assert (seen.note, seen.deprecated_count, seen.reporting_controller) == (
        "changed",
        4,
        "example.com/controller",
    )
