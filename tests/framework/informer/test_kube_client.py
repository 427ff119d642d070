"""The JSON client: kubeconfig loading, error mapping and per-request timeouts, over HTTP.

Logins, CRUD and the mapping of real errors run on the session's real kube-apiserver (TLS with a
client certificate, and a ServiceAccount token bound by config/rbac); throttling and timeouts need
injected faults, so they run on the stand-in.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from kubernetes_asyncio.client import Configuration
from real_kube import RealKube

from framework.kube import (
    LEASES,
    PODS,
    SECRETS,
    KubeApiError,
    KubeClient,
    KubeConnectionError,
    KubeTimeoutError,
    Resource,
)
from framework.testing.apiserver import FaultRule, StandInApiServer


def test_resource_paths() -> None:
    assert PODS.collection_path() == "/api/v1/pods"
    assert PODS.object_path("a", "ns") == "/api/v1/namespaces/ns/pods/a"
    assert (
        LEASES.collection_path("kube-system") == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    )
    nodes = Resource("", "v1", "nodes", "Node", namespaced=False)
    assert nodes.object_path("n1") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError):
        PODS.object_path("a")
    assert LEASES.api_version == "coordination.k8s.io/v1" and str(LEASES) == "leases.v1.coordination.k8s.io"


async def test_kubeconfig_login_crud_and_error_mapping(real_kube: RealKube) -> None:
    namespace = real_kube.namespace
    kubeconfig = str(real_kube.control_plane.kubeconfig_path)  # TLS, admin client certificate
    async with await KubeClient.from_environment(kubeconfig=kubeconfig) as client:
        body = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "x"}}
        created = await client.create(LEASES, body, namespace)
        assert created["metadata"]["resourceVersion"]
        stale = {**created, "metadata": {**created["metadata"], "resourceVersion": "1"}}
        with pytest.raises(KubeApiError) as conflict:
            await client.replace(LEASES, "l", stale, namespace)
        assert conflict.value.is_conflict and conflict.value.status == 409
        with pytest.raises(KubeApiError) as missing:
            await client.get(LEASES, "nope", namespace)
        assert missing.value.is_not_found and missing.value.reason == "NotFound"


async def test_token_kubeconfig_login_and_forbidden_mapping(
    real_kube: RealKube, controller_service_account_kubeconfig: Path
) -> None:
    """A ServiceAccount token kubeconfig (what the controller runs with) logs in; what its role
    (config/rbac) does not grant maps to a 403 Forbidden error."""
    kubeconfig = str(controller_service_account_kubeconfig)
    async with await KubeClient.from_environment(kubeconfig=kubeconfig) as client:
        review = await client.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        assert review["status"]["userInfo"]["username"] == (
            "system:serviceaccount:kube-system:aws-load-balancer-controller"
        )
        listed = await client.list(PODS, real_kube.namespace)
        assert listed["items"] == []
        with pytest.raises(KubeApiError) as forbidden:
            await client.list(SECRETS, real_kube.namespace)
        assert forbidden.value.status == 403 and forbidden.value.reason == "Forbidden"
        assert not forbidden.value.is_not_found and not forbidden.value.is_server_error


async def test_throttling_and_request_timeouts_are_mapped(standin_server: StandInApiServer) -> None:
    async with await KubeClient.from_environment(kubeconfig=str(standin_server.kubeconfig_path)) as client:
        await client.create(LEASES, {"metadata": {"name": "l"}, "spec": {"holderIdentity": "x"}}, "default")
        standin_server.faults.add(FaultRule(verb="list", resource="pods", status=429, retry_after_seconds=7))
        with pytest.raises(KubeApiError) as throttled:
            await client.list(PODS)
        assert throttled.value.is_too_many_requests and throttled.value.retry_after == 7.0

        standin_server.faults.add(FaultRule(verb="get", resource="leases", status=None, delay_seconds=0.5))
        with pytest.raises(KubeTimeoutError):
            await client.get(LEASES, "l", "default", request_timeout=0.1)


async def test_gone_and_too_large_resource_version_are_recognised() -> None:
    assert KubeApiError(410, {"reason": "Expired"}).is_gone
    too_large = KubeApiError(
        504, {"reason": "Timeout", "details": {"causes": [{"reason": "ResourceVersionTooLarge"}]}}
    )
    assert too_large.is_too_large_resource_version and not too_large.is_gone
    assert KubeApiError(
        504, {"message": "Too large resource version: 10, current: 5"}
    ).is_too_large_resource_version


async def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes
    async with KubeClient.from_configuration(Configuration(host=f"http://127.0.0.1:{port}")) as client:
        with pytest.raises(KubeConnectionError) as refused:
            await client.list(PODS)
    assert refused.value.is_connection_refused
