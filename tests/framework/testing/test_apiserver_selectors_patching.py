"""Pure-function tests of the selector grammar and the three patch formats."""

from __future__ import annotations

from typing import Any

import pytest

from framework.testing.apiserver.errors import ApiError
from framework.testing.apiserver.patching import (
    PatchApplyError,
    decode_json_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from framework.testing.apiserver.selectors import FieldSelector, LabelSelector

LABELS = {"app": "web", "tier": "front", "replicas": "3"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("app in (web, db)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web,tier=back", False),
        ("replicas>2", True),
        ("replicas<3", False),
        ("example.com/key=x", False),
    ],
)
def test_label_selector_matching(selector: str, expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(LABELS) is expected


@pytest.mark.parametrize(
    "selector", ["app in (web", "app=", "=web", "app in ()", "Bad Key=1", "a,", "app>x", "a=b=c"]
)
def test_label_selector_syntax_errors_are_400(selector: str) -> None:
    if selector == "app=":
        # An empty value is valid: it matches an empty label.
        assert LabelSelector.parse(selector).matches({"app": ""})
        return
    with pytest.raises(ApiError) as info:
        LabelSelector.parse(selector)
    assert info.value.code == 400 and info.value.reason == "BadRequest"


def test_field_selector() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1", "hostNetwork": True},
        "status": {"phase": "Running"},
    }
    paths = {
        "metadata.name": "metadata.name",
        "spec.nodeName": "spec.nodeName",
        "spec.hostNetwork": "spec.hostNetwork",
        "status.phase": "status.phase",
    }
    assert FieldSelector.parse("spec.nodeName=n1,status.phase!=Pending", paths).matches(pod)
    assert FieldSelector.parse("spec.hostNetwork=true", paths).matches(pod)
    assert not FieldSelector.parse("spec.nodeName==n2", paths).matches(pod)
    assert FieldSelector.parse("metadata.name=p", paths).exact_name() == "p"
    with pytest.raises(ApiError) as unsupported:
        FieldSelector.parse("spec.other=x", paths)
    assert unsupported.value.message == "field label not supported: spec.other"
    with pytest.raises(ApiError):
        FieldSelector.parse("nonsense", paths)


def test_merge_patch_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]}) == {
        "a": "z",
        "c": {"d": "e"},
        "l": [3],
    }
    assert target["c"] == {"d": "e", "f": "g"}  # the input is not modified


def test_json_patch_operations() -> None:
    doc: dict[str, Any] = {"a": {"b": [1, 2]}, "x": "y"}
    patched = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "replace", "path": "/x", "value": "z"},
            {"op": "copy", "from": "/x", "path": "/copy"},
            {"op": "move", "from": "/copy", "path": "/moved"},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "test", "path": "/moved", "value": "z"},
            {"op": "add", "path": "/k~1with~0escapes", "value": 1},
        ],
    )
    assert patched == {"a": {"b": [0, 2, 3]}, "x": "z", "moved": "z", "k/with~escapes": 1}
    assert doc == {"a": {"b": [1, 2]}, "x": "y"}
    with pytest.raises(PatchApplyError, match="test failed"):
        json_patch(doc, [{"op": "test", "path": "/x", "value": "nope"}])
    with pytest.raises(PatchApplyError):
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])
    with pytest.raises(PatchApplyError):
        json_patch(doc, [{"op": "remove", "path": "/a/b/5"}])
    with pytest.raises(ApiError) as info:
        decode_json_patch({"op": "add"})
    assert info.value.code == 400


def test_strategic_merge_finalizers_are_a_set() -> None:
    original = {"metadata": {"finalizers": ["a", "b"]}}
    assert strategic_merge_patch(original, {"metadata": {"finalizers": ["b", "c"]}}, "ConfigMap") == {
        "metadata": {"finalizers": ["a", "b", "c"]}
    }
    removed = strategic_merge_patch(
        original, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "ConfigMap"
    )
    assert removed == {"metadata": {"finalizers": ["b"]}}


def test_strategic_merge_keyed_lists_and_directives() -> None:
    pod = {
        "spec": {
            "containers": [
                {"name": "app", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "side", "image": "s:1"},
            ],
            "tolerations": [{"key": "a"}],
        }
    }
    patch = {
        "spec": {
            "containers": [
                {"name": "app", "image": "a:2", "ports": [{"containerPort": 443, "name": "https"}]},
                {"name": "side", "$patch": "delete"},
                {"name": "new", "image": "n:1"},
            ],
            "tolerations": [{"key": "b"}],  # no merge strategy: replaced whole
        }
    }
    merged = strategic_merge_patch(pod, patch, "Pod")
    assert merged["spec"]["containers"] == [
        {
            "name": "app",
            "image": "a:2",
            # As on a real server: the patch's items first, then those only the original had.
            "ports": [{"containerPort": 443, "name": "https"}, {"containerPort": 80, "name": "http"}],
        },
        {"name": "new", "image": "n:1"},
    ]
    assert merged["spec"]["tolerations"] == [{"key": "b"}]
    ordered = strategic_merge_patch(
        merged, {"spec": {"$setElementOrder/containers": [{"name": "new"}, {"name": "app"}]}}, "Pod"
    )
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["new", "app"]
    replaced = strategic_merge_patch(merged, {"spec": {"$patch": "replace", "containers": []}}, "Pod")
    assert replaced == {"spec": {"containers": []}}
    retained = strategic_merge_patch(
        {"spec": {"a": 1, "b": 2}}, {"spec": {"$retainKeys": ["a", "c"], "c": 3}}, "Pod"
    )
    assert retained == {"spec": {"a": 1, "c": 3}}


def test_strategic_merge_conditions_by_type_and_missing_key() -> None:
    status = {
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}]}
    }
    merged = strategic_merge_patch(
        status, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, "Ingress"
    )
    assert merged["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Synced", "status": "True"},
    ]
    with pytest.raises(ApiError) as info:
        strategic_merge_patch(status, {"status": {"conditions": [{"status": "True"}]}}, "Ingress")
    assert info.value.code == 400
