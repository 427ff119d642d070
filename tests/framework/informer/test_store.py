"""The indexed cache: keys, indices kept in step with writes, replace semantics."""

from __future__ import annotations

import pytest

from framework.informer import NAMESPACE_INDEX, Store
from framework.kube import KubeObject


def pod(name: str, namespace: str = "default", node: str | None = None, rv: str = "1") -> KubeObject:
    obj: KubeObject = {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv}, "spec": {}}
    if node:
        obj["spec"]["nodeName"] = node
    return obj


def by_node(obj: KubeObject) -> list[str]:
    node = obj["spec"].get("nodeName")
    return [node] if node else []


def test_namespace_index_is_built_in_and_follows_writes() -> None:
    store = Store()
    store.upsert(pod("a", "ns1"))
    store.upsert(pod("b", "ns2"))
    assert [o["metadata"]["name"] for o in store.by_index(NAMESPACE_INDEX, "ns1")] == ["a"]
    store.delete("ns1/a")
    assert store.by_index(NAMESPACE_INDEX, "ns1") == []
    assert store.index_values(NAMESPACE_INDEX) == ["ns2"]  # no empty buckets left after churn


def test_update_moves_object_between_index_values() -> None:
    store = Store({"node": by_node})
    store.upsert(pod("a", node="n1"))
    old = store.upsert(pod("a", node="n2", rv="2"))
    assert old is not None and old["metadata"]["resourceVersion"] == "1"
    assert store.index_keys("node", "n1") == []
    assert store.index_keys("node", "n2") == ["default/a"]
    assert store.index_values("node") == ["n2"]


def test_cluster_scoped_keys_and_lookup() -> None:
    store = Store()
    store.upsert({"metadata": {"name": "node-1"}})
    assert store.keys() == ["node-1"]
    assert store.get_by_name("node-1") is not None
    assert store.index_values(NAMESPACE_INDEX) == []


def test_replace_returns_previous_contents_and_reindexes() -> None:
    store = Store({"node": by_node})
    store.upsert(pod("a", node="n1"))
    store.upsert(pod("b", node="n1"))
    previous = store.replace([pod("b", node="n2"), pod("c", node="n3")])
    assert sorted(previous) == ["default/a", "default/b"]
    assert sorted(store.keys()) == ["default/b", "default/c"]
    assert store.index_keys("node", "n1") == []
    assert store.index_keys("node", "n2") == ["default/b"]
    assert len(store) == 2 and "default/c" in store


def test_indexer_added_later_indexes_existing_objects() -> None:
    store = Store()
    store.upsert(pod("a", node="n1"))
    store.add_indexer("node", by_node)
    assert store.index_keys("node", "n1") == ["default/a"]
    with pytest.raises(ValueError):
        store.add_indexer("node", by_node)
    with pytest.raises(KeyError):
        store.by_index("missing", "x")


def test_objects_are_shared_not_copied() -> None:
    """Documented read-only contract: reads return the cached dict itself."""
    store = Store()
    obj = pod("a")
    store.upsert(obj)
    assert store.get("default/a") is obj
