"""framework.objects reads: metadata accessors, keys and finalizer checks over plain dicts."""

from __future__ import annotations

from typing import Any

import pytest

from framework import objects
from framework.informer import object_key as informer_object_key
from framework.informer import split_key as informer_split_key

POD: dict[str, Any] = {
    "metadata": {
        "name": "web-0",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"app": "web"},
        "annotations": {"note": "x"},
        "finalizers": ["example.com/a", "example.com/b"],
        "deletionTimestamp": "2026-01-01T00:00:00Z",
    }
}


def test_accessors_read_metadata() -> None:
    assert objects.meta_of(POD) is POD["metadata"]
    assert objects.name_of(POD) == "web-0"
    assert objects.namespace_of(POD) == "shop"
    assert objects.uid_of(POD) == "u-1"
    assert objects.labels_of(POD) == {"app": "web"}
    assert objects.annotations_of(POD) == {"note": "x"}
    assert objects.finalizers_of(POD) == ["example.com/a", "example.com/b"]
    assert objects.has_finalizer(POD, "example.com/b")
    assert not objects.has_finalizer(POD, "example.com/c")
    assert objects.is_deleting(POD)


@pytest.mark.parametrize("obj", [{}, {"metadata": None}, {"metadata": {}}])
def test_missing_metadata_reads_as_empty(obj: dict[str, Any]) -> None:
    assert objects.meta_of(obj) == {}
    assert (objects.name_of(obj), objects.namespace_of(obj), objects.uid_of(obj)) == ("", "", "")
    assert objects.labels_of(obj) == {}
    assert objects.annotations_of(obj) == {}
    assert objects.finalizers_of(obj) == []
    assert not objects.has_finalizer(obj, "example.com/a")
    assert not objects.is_deleting(obj)


def test_null_fields_read_as_empty() -> None:
    obj = {"metadata": {"name": None, "labels": None, "annotations": None, "finalizers": None}}
    assert objects.name_of(obj) == ""
    assert objects.labels_of(obj) == {}
    assert objects.annotations_of(obj) == {}
    assert objects.finalizers_of(obj) == []


def test_label_and_annotation_values_read_as_strings() -> None:
    # The API only stores strings; a hand-built object may not, and callers compare with strings.
    obj = {"metadata": {"labels": {"replicas": 3}, "annotations": {"enabled": True}}}
    assert objects.labels_of(obj) == {"replicas": "3"}
    assert objects.annotations_of(obj) == {"enabled": "True"}


def test_object_key_of_namespaced_and_cluster_scoped_objects() -> None:
    assert objects.object_key(POD) == "shop/web-0"
    assert objects.object_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert objects.split_key("shop/web-0") == ("shop", "web-0")
    assert objects.split_key("node-1") == (None, "node-1")


def test_object_key_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"no metadata\.name"):
        objects.object_key({"metadata": {"namespace": "shop"}})


def test_informers_use_the_same_key_functions() -> None:
    assert informer_object_key is objects.object_key
    assert informer_split_key is objects.split_key
