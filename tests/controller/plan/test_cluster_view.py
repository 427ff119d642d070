"""``-f`` manifests layered over the cluster's objects as ``kubectl apply`` would."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS
from controller.plan.cluster_view import WATCHED, ClusterView, ManifestError, load_manifests
from framework.kube import INGRESSES, NAMESPACES, SERVICES


def service(name: str, node_port: int | None = None, **meta: Any) -> dict[str, Any]:
    port: dict[str, Any] = {"port": 80, "protocol": "TCP"}
    if node_port is not None:
        port["nodePort"] = node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", **meta},
        "spec": {"type": "NodePort", "ports": [port]},
    }


def test_same_kind_namespace_and_name_replaces_and_others_are_added() -> None:
    live = ClusterView().layered([service("web", 30080, uid="u1", finalizers=["f"])])
    manifest = service("web")
    manifest["metadata"]["annotations"] = {"a": "b"}
    layered = live.layered([manifest, service("api")])
    web = layered.get(SERVICES, "shop/web")
    assert web is not None
    # What apply never sets is kept: uid, finalizers and the allocated NodePort.
    assert web["metadata"] == {
        "name": "web",
        "namespace": "shop",
        "annotations": {"a": "b"},
        "uid": "u1",
        "finalizers": ["f"],
    }
    assert web["spec"]["ports"][0]["nodePort"] == 30080
    assert [s["metadata"]["name"] for s in layered.list(SERVICES)] == ["api", "web"]
    assert live.get(SERVICES, "shop/api") is None  # the cluster's view is not changed


def test_a_manifest_without_namespace_goes_to_default_and_other_kinds_are_ignored() -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "front"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    layered = ClusterView().layered([ingress, deployment])
    assert layered.get(INGRESSES, "default/front") is not None
    assert sum(len(found) for found in layered.objects.values()) == 1


def test_files_directories_and_lists_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
    )
    (tmp_path / "b.json").write_text('{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}')
    (tmp_path / "notes.txt").write_text("not a manifest")
    names = [m["metadata"]["name"] for m in load_manifests([str(tmp_path)])]
    assert names == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Service\n", "apiVersion and kind are required"),
        ("apiVersion: v1\nkind: Service\nmetadata: {}\n", "Service without metadata.name"),
        ("a: [", "while parsing"),
    ],
)
def test_a_bad_manifest_is_an_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message) as raised:
        load_manifests([str(path)])
    assert str(path) in str(raised.value)


def test_a_missing_file_is_an_error() -> None:
    with pytest.raises(ManifestError, match=r"nope\.yaml"):
        load_manifests(["/nonexistent/nope.yaml"])


def test_dash_reads_the_manifests_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"))
    assert [m["metadata"]["name"] for m in load_manifests(["-"])] == ["s"]


def test_ingress_class_params_and_namespaces_are_read_and_layered_for_the_class_matcher() -> None:
    """``plan`` sees IngressClassParams and Namespaces (cluster-scoped: keyed by name), so an
    Ingress's class configuration is loaded as the controller loads it."""
    params = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "IngressClassParams", "metadata": {"name": "p"}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"t": "a"}}}
    assert INGRESS_CLASS_PARAMS in WATCHED and NAMESPACES in WATCHED
    layered = ClusterView().layered([params, namespace])
    assert layered.get(INGRESS_CLASS_PARAMS, "p") == params
    assert layered.get(NAMESPACES, "shop") == namespace
