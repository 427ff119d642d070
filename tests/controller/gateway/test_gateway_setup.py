"""The TargetGroupConfiguration look-up the Gateway builder uses (an index on the informer store)."""

from __future__ import annotations

from typing import Any

from controller.gateway.setup import _target_group_config_lookup, target_group_config_services
from framework.informer import Store


def tgc(name: str, namespace: str, reference: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"targetReference": reference}}


def test_a_service_finds_its_configuration_in_its_namespace_only() -> None:
    store = Store()
    lookup = _target_group_config_lookup(store)
    store.upsert(tgc("api", "shop", {"name": "api"}))
    store.upsert(tgc("api", "other", {"name": "web"}))
    store.upsert(tgc("gw", "shop", {"kind": "Gateway", "name": "api"}))
    found = lookup("shop", "api")
    assert found is not None and found["metadata"]["namespace"] == "shop"
    assert lookup("other", "api") is None
    assert lookup("other", "web") is not None
    store.delete("shop/api")
    assert lookup("shop", "api") is None  # the Gateway-kind reference does not name the Service
    assert _target_group_config_lookup(store)("other", "web") is not None  # a second lookup reuses the index


def test_only_service_references_are_indexed() -> None:
    assert target_group_config_services(tgc("a", "ns", {"name": "svc"})) == ["ns/svc"]
    assert target_group_config_services(tgc("a", "ns", {"kind": "Gateway", "name": "gw"})) == []
    assert target_group_config_services(tgc("a", "ns", {})) == []
