"""Backoff sequence, keys/tombstones and the managedFields transform."""

from __future__ import annotations

import random

import pytest

from framework.informer import (
    Backoff,
    BackoffPolicy,
    DeletedFinalStateUnknown,
    deletion_key,
    final_state,
    object_key,
    split_key,
    strip_managed_fields,
)
from framework.informer.factory import InformerFactory
from framework.kube import PODS, KubeClient, KubeObject


class _NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


def test_backoff_doubles_from_800ms_to_cap_and_resets_after_quiet() -> None:
    backoff = Backoff(BackoffPolicy(), _NoJitter())
    delays = [backoff.next_delay(now=float(i)) for i in range(8)]
    assert delays == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    # Two minutes without failures: start over.
    assert backoff.next_delay(now=7.0 + 120.0) == 0.8


def test_backoff_jitter_stays_within_one_step() -> None:
    backoff = Backoff(BackoffPolicy(), random.Random(7))
    for step in (0.8, 1.6, 3.2):
        delay = backoff.next_delay(now=0.0)
        assert step <= delay < 2 * step


def test_backoff_policy_validation() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(initial=0)
    with pytest.raises(ValueError):
        BackoffPolicy(initial=5, cap=1)


def test_keys_and_tombstones() -> None:
    obj = {"metadata": {"name": "a", "namespace": "ns"}}
    assert object_key(obj) == "ns/a"
    assert object_key({"metadata": {"name": "n"}}) == "n"
    assert split_key("ns/a") == ("ns", "a") and split_key("n") == (None, "n")
    tombstone = DeletedFinalStateUnknown("ns/a", obj)
    assert deletion_key(tombstone) == "ns/a" and deletion_key(obj) == "ns/a"
    assert final_state(tombstone) is obj and final_state(obj) is obj
    with pytest.raises(ValueError):
        object_key({"metadata": {}})


def test_strip_managed_fields_is_idempotent() -> None:
    obj = {"metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}]}, "spec": {"x": 1}}
    once = strip_managed_fields(obj)
    assert "managedFields" not in once["metadata"]
    assert strip_managed_fields(once) == {"metadata": {"name": "a"}, "spec": {"x": 1}}


def test_factory_informer_transform_override_must_agree_between_callers() -> None:
    def keep_name(obj: KubeObject) -> KubeObject:
        return {"metadata": {"name": obj["metadata"]["name"]}}

    # No request is made before start(): an unconnected client is enough to build informers.
    factory = InformerFactory(KubeClient.__new__(KubeClient))
    slim = factory.informer(PODS, transform=keep_name)
    assert factory.informer(PODS, transform=keep_name) is slim
    with pytest.raises(ValueError, match="another transform"):
        factory.informer(PODS)
