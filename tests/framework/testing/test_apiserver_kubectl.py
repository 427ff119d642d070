"""The kubectl binary works against the server: apply (client-side), get, patch, delete, wait
(conformance). kubectl runs as a subprocess; the server shares this test's event loop, so the
subprocess is awaited, never waited on synchronously."""

from __future__ import annotations

import asyncio
import json
import pathlib
import shutil
import textwrap
import uuid
from typing import Any

import pytest

from framework.testing.handle import ApiServerHandle

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class Kubectl:
    def __init__(self, apiserver: ApiServerHandle, cache_dir: pathlib.Path, namespace: str) -> None:
        self.namespace = namespace
        self._base = [
            KUBECTL,
            "--kubeconfig",
            str(apiserver.kubeconfig_path),
            "--cache-dir",
            str(cache_dir),
            "--namespace",
            namespace,
            "--request-timeout",
            "10s",
        ]

    async def run(self, *args: str, check: bool = True, within: float = 20.0) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *self._base, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        code = process.returncode
        assert code is not None
        if check and code != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({code}): {err.decode()}")
        return code, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        _, out, _ = await self.run(*args, "-o", "json")
        return json.loads(out)


@pytest.fixture
def kubectl(apiserver: ApiServerHandle, tmp_path: pathlib.Path, namespace: str) -> Kubectl:
    return Kubectl(apiserver, tmp_path / "kubectl-cache", namespace)


MANIFEST = textwrap.dedent("""\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
      labels: {app: demo}
    data:
      mode: "{mode}"
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      type: NodePort
      selector: {app: demo}
      ports:
      - {name: http, port: 80, targetPort: 8080}
      - {name: https, port: 443}
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
    spec:
      ingressClassName: alb
      rules:
      - http:
          paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
    """)


async def test_apply_get_patch_delete(kubectl: Kubectl, tmp_path: pathlib.Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST.replace("{mode}", "a"))
    _, out, _ = await kubectl.run("apply", "-f", str(manifest))
    assert (
        "configmap/settings created" in out
        and "service/web created" in out
        and "ingress.networking.k8s.io/web created" in out
    )
    _, out, _ = await kubectl.run("apply", "-f", str(manifest))
    assert out.count("unchanged") == 3
    service = await kubectl.json("get", "service", "web")
    assert service["spec"]["clusterIP"] and all(p["nodePort"] for p in service["spec"]["ports"])
    assert "kubectl.kubernetes.io/last-applied-configuration" in service["metadata"]["annotations"]
    # Re-applying a changed manifest sends a three-way strategic merge patch.
    manifest.write_text(MANIFEST.replace("{mode}", "b").replace("  - {name: https, port: 443}\n", ""))
    _, out, _ = await kubectl.run("apply", "-f", str(manifest))
    assert "configmap/settings configured" in out and "service/web configured" in out
    settings = await kubectl.json("get", "configmap", "settings")
    assert settings["data"] == {"mode": "b"}
    service = await kubectl.json("get", "service", "web")
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]
    # patch: strategic (default), merge and json.
    await kubectl.run(
        "patch", "configmap", "settings", "-p", '{"metadata":{"finalizers":["example.com/hold"]}}'
    )
    await kubectl.run("patch", "configmap", "settings", "--type", "merge", "-p", '{"data":{"extra":"1"}}')
    await kubectl.run(
        "patch",
        "configmap",
        "settings",
        "--type",
        "json",
        "-p",
        '[{"op":"add","path":"/data/more","value":"2"}]',
    )
    settings = await kubectl.json("get", "configmap", "settings")
    assert settings["data"] == {"mode": "b", "extra": "1", "more": "2"}
    assert settings["metadata"]["finalizers"] == ["example.com/hold"]
    # delete with a finalizer: the object stays, terminating, until the finalizer is removed.
    await kubectl.run("delete", "configmap", "settings", "--wait=false")
    settings = await kubectl.json("get", "configmap", "settings")
    assert settings["metadata"]["deletionTimestamp"]
    waiter = asyncio.create_task(kubectl.run("wait", "--for=delete", "configmap/settings", "--timeout=15s"))
    await asyncio.sleep(0.5)
    assert not waiter.done()
    await kubectl.run(
        "patch",
        "configmap",
        "settings",
        "--type",
        "json",
        "-p",
        '[{"op":"remove","path":"/metadata/finalizers"}]',
    )
    code, _, _ = await waiter
    assert code == 0
    code, _, err = await kubectl.run("get", "configmap", "settings", check=False)
    assert code != 0 and "NotFound" in err
    _, out, _ = await kubectl.run("delete", "-f", str(manifest), "--ignore-not-found")
    assert 'service "web" deleted' in out


async def test_wait_for_jsonpath_and_condition(kubectl: Kubectl, tmp_path: pathlib.Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: app}
        spec:
          containers: [{name: app, image: example.com/app:1}]
        """)
    )
    await kubectl.run("apply", "-f", str(manifest))
    waiter = asyncio.create_task(kubectl.run("wait", "--for=condition=Ready", "pod/app", "--timeout=15s"))
    await asyncio.sleep(0.3)
    status = {
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }
    }
    await kubectl.run(
        "patch", "pod", "app", "--subresource=status", "--type", "merge", "-p", json.dumps(status)
    )
    code, out, _ = await waiter
    assert code == 0 and "condition met" in out
    await kubectl.run("wait", "--for=jsonpath={.status.phase}=Running", "pod/app", "--timeout=5s")
    _, out, _ = await kubectl.run("get", "pods", "--field-selector", "status.phase=Running", "-o", "name")
    assert out.split() == ["pod/app"]
    _, out, _ = await kubectl.run("get", "pods", "-l", "missing", "-o", "name")
    assert out.strip() == ""


async def test_custom_resources_after_applying_their_crd(kubectl: Kubectl, tmp_path: pathlib.Path) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = tmp_path / "crd.yaml"
    crd.write_text(
        textwrap.dedent(f"""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {{name: gadgets.{group}}}
        spec:
          group: {group}
          scope: Namespaced
          names: {{plural: gadgets, singular: gadget, kind: Gadget}}
          versions:
          - name: v1
            served: true
            storage: true
            schema:
              openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
        """)
    )
    gadget = tmp_path / "gadget.yaml"
    gadget.write_text(f"apiVersion: {group}/v1\nkind: Gadget\nmetadata: {{name: g1}}\nspec: {{size: 1}}\n")
    await kubectl.run("apply", "-f", str(crd))
    try:
        await kubectl.run("wait", "--for=condition=Established", f"crd/gadgets.{group}", "--timeout=15s")
        # kubectl rediscovers the API after the CRD appears; apply of a custom resource uses a merge patch.
        await kubectl.run("apply", "-f", str(gadget))
        gadget.write_text(gadget.read_text().replace("size: 1", "size: 2"))
        _, out, _ = await kubectl.run("apply", "-f", str(gadget))
        assert f"gadget.{group}/g1 configured" in out
        fetched = await kubectl.json("get", f"gadgets.{group}", "g1")
        assert fetched["spec"] == {"size": 2} and fetched["metadata"]["generation"] == 2
        code, _, err = await kubectl.run(
            "patch", f"gadgets.{group}", "g1", "-p", '{"spec":{"size":3}}', check=False
        )
        assert code != 0 and "strategic-merge-patch" in err
    finally:
        await kubectl.run("delete", "-f", str(crd), "--ignore-not-found")


async def test_get_events_prints_the_server_side_columns(kubectl: Kubectl, tmp_path: pathlib.Path) -> None:
    # kubectl prints whatever columns the server's Table has; without server-side printing it
    # would fall back to NAME and AGE and hide why something happened.
    manifest = tmp_path / "event.yaml"
    manifest.write_text(
        textwrap.dedent("""\
        apiVersion: events.k8s.io/v1
        kind: Event
        metadata: {name: web.1}
        eventTime: "2026-01-01T00:00:00.000000Z"
        reportingController: example.com/controller
        reportingInstance: controller-0
        action: Reconcile
        reason: FailedDeploy
        type: Warning
        note: could not reach the load balancer
        regarding: {kind: Service, name: web, namespace: NAMESPACE}
        """).replace("NAMESPACE", kubectl.namespace)
    )
    await kubectl.run("create", "-f", str(manifest))
    for resource in ("events", "events.events.k8s.io"):
        _, out, _ = await kubectl.run("get", resource)
        header, row = out.splitlines()
        assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], out
        assert row.split()[1:] == [
            "Warning",
            "FailedDeploy",
            "service/web",
            *["could", "not", "reach", "the", "load", "balancer"],
        ]
    _, out, _ = await kubectl.run("get", "events", "-o", "wide")
    header = out.splitlines()[0]
    assert "SOURCE" in header and "COUNT" in header and "example.com/controller, controller-0" in out
