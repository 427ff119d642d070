"""A thin JSON client for the Kubernetes API on top of kubernetes_asyncio's transport.

Why not the generated API classes: they deserialise every object into OpenAPI models, which is
slow and memory-hungry for caches of tens of thousands of objects, and their default per-request
timeout on aiohttp 3.x is *no timeout at all* (an empty ``ClientTimeout()``), so a half-open watch
can hang forever (tomplus/kubernetes_asyncio#360). Here every call goes through
``ApiClient.call_api(..., _preload_content=False, _request_timeout=...)``: kubernetes_asyncio still
does authentication (bearer tokens, exec plugins, client certificates, TLS), while we read and
parse the JSON ourselves and always pass an explicit ``aiohttp.ClientTimeout``.

Objects are plain ``dict``s (``KubeObject``). Callers treat objects returned from caches as
read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import aiohttp
import yaml
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.config.config_exception import ConfigException

from framework import kube_session

KubeObject = dict[str, Any]
"""A Kubernetes object as decoded JSON."""

QueryParams = Sequence[tuple[str, str]]

JSON_CONTENT_TYPE: Final = "application/json"
MERGE_PATCH_CONTENT_TYPE: Final = "application/merge-patch+json"
JSON_PATCH_CONTENT_TYPE: Final = "application/json-patch+json"
STRATEGIC_MERGE_PATCH_CONTENT_TYPE: Final = "application/strategic-merge-patch+json"


@dataclass(frozen=True, slots=True)
class Resource:
    """Where a kind of object lives in the API (a GroupVersionResource plus scope)."""

    group: str
    """API group; ``""`` for the core group (``/api/v1``)."""
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None = None) -> str:
        """Path of the collection, across all namespaces when ``namespace`` is None or empty."""
        if self.namespaced and namespace:
            return f"{self.api_prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.api_prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        if self.namespaced and not namespace:
            raise ValueError(f"{self.plural} are namespaced: a namespace is required for {name!r}")
        return f"{self.collection_path(namespace)}/{name}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.version}.{self.group}" if self.group else f"{self.plural}.{self.version}"


PODS: Final = Resource("", "v1", "pods", "Pod")
SERVICES: Final = Resource("", "v1", "services", "Service")
ENDPOINTS: Final = Resource("", "v1", "endpoints", "Endpoints")
NODES: Final = Resource("", "v1", "nodes", "Node", namespaced=False)
NAMESPACES: Final = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
SECRETS: Final = Resource("", "v1", "secrets", "Secret")
EVENTS: Final = Resource("", "v1", "events", "Event")
ENDPOINT_SLICES: Final = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
INGRESSES: Final = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
INGRESS_CLASSES: Final = Resource(
    "networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False
)
LEASES: Final = Resource("coordination.k8s.io", "v1", "leases", "Lease")


@dataclass(frozen=True, slots=True)
class RequestTimeouts:
    """Per-request timeouts for ordinary (non-watch) calls, in seconds."""

    connect: float = 10.0
    """TCP connect plus TLS handshake."""
    total: float = 30.0
    """Whole request including reading the body; a list of many objects may need more."""

    def client_timeout(self, total: float | None = None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.total if total is None else total, connect=self.connect, sock_connect=self.connect
        )


class KubeError(Exception):
    """Base of every error raised by :class:`KubeClient`."""


class KubeConfigError(KubeError):
    """The kubeconfig cannot be used: missing, not YAML, or without the entries it needs."""


def _require_file(kubeconfig: str) -> None:
    # kubernetes_asyncio only logs a warning for a missing file and then fails with a vaguer error.
    if not os.path.isfile(os.path.expanduser(kubeconfig)):
        raise KubeConfigError(f"kubeconfig {kubeconfig}: no such file")


class KubeConnectionError(KubeError):
    """The API server could not be reached, or the connection broke mid-request."""

    @property
    def is_connection_refused(self) -> bool:
        cause = self.__cause__
        return isinstance(cause, ConnectionRefusedError | aiohttp.ClientConnectorError)


class KubeTimeoutError(KubeError):
    """A request did not complete within its timeout."""


class KubeApiError(KubeError):
    """The API server answered with a non-2xx status (or a watch ERROR event)."""

    def __init__(self, status: int, body: Mapping[str, Any] | None = None, retry_after: float | None = None):
        self.status = status
        self.body: Mapping[str, Any] = body or {}
        self.retry_after = retry_after
        super().__init__(f"HTTP {status} {self.reason}: {self.message}")

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_conflict(self) -> bool:
        return self.status == 409

    @property
    def is_gone(self) -> bool:
        """410 Gone / Expired: the requested resourceVersion is older than the server keeps."""
        return self.status == 410 or self.reason in ("Expired", "Gone")

    @property
    def is_too_large_resource_version(self) -> bool:
        """The server has not caught up to the requested resourceVersion yet (kubernetes#91073)."""
        causes = self.body.get("details", {}).get("causes", []) if isinstance(self.body, Mapping) else []
        if any(isinstance(c, Mapping) and c.get("reason") == "ResourceVersionTooLarge" for c in causes):
            return True
        return self.status == 504 and "too large resource version" in self.message.lower()

    @property
    def is_too_many_requests(self) -> bool:
        return self.status == 429

    @property
    def is_server_error(self) -> bool:
        return self.status >= 500


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _decode_status_body(raw: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": raw[:500].decode("utf-8", "replace")}
    return decoded if isinstance(decoded, dict) else {"message": str(decoded)[:500]}


class WatchStream:
    """One open watch response: read it a line (one JSON event) at a time."""

    def __init__(self, response: aiohttp.ClientResponse):
        self._response = response

    async def read_event(self) -> KubeObject | None:
        """The next event, or None when the server closed the stream.

        Read timeouts come from the request's ``sock_read``; a broken connection raises
        :class:`KubeConnectionError`, a read timeout :class:`KubeTimeoutError`.
        """
        while True:
            try:
                line = await self._response.content.readline()
            except (TimeoutError, aiohttp.ServerTimeoutError) as error:
                raise KubeTimeoutError("watch read timed out") from error
            except (aiohttp.ClientError, OSError) as error:
                raise KubeConnectionError(f"watch stream broke: {error!r}") from error
            except ValueError as error:  # aiohttp: a line longer than the read buffer
                raise KubeConnectionError(f"watch line too long: {error}") from error
            if not line:
                return None
            line = line.strip()
            if not line:
                continue  # keep-alive blank line
            try:
                event = json.loads(line)
            except ValueError as error:
                raise KubeConnectionError(f"malformed watch line: {line[:200]!r}") from error
            if not isinstance(event, dict):
                raise KubeConnectionError(f"watch line is not an object: {line[:200]!r}")
            return event

    def abort(self) -> None:
        """Close the connection under a pending read (used by the inactivity timer)."""
        self._response.close()


class KubeClient:
    """JSON requests and watch streams against one API server.

    Owns its ``ApiClient`` (and so its aiohttp session) when built with :meth:`from_configuration`;
    call :meth:`close` (or use ``async with``) when done.
    """

    def __init__(
        self,
        api_client: k8s_client.ApiClient,
        timeouts: RequestTimeouts = RequestTimeouts(),
        *,
        owns_api_client: bool = True,
    ):
        self._api = api_client
        self._timeouts = timeouts
        self._owns_api_client = owns_api_client

    @classmethod
    def from_configuration(
        cls, configuration: k8s_client.Configuration, timeouts: RequestTimeouts = RequestTimeouts()
    ) -> KubeClient:
        """A client owning a new ``ApiClient`` (see :mod:`framework.kube_session`: the proxy
        environment is read here, once)."""
        return cls(kube_session.api_client(configuration), timeouts)

    @classmethod
    async def from_environment(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeouts: RequestTimeouts = RequestTimeouts(),
    ) -> KubeClient:
        """In-cluster service-account config, else the kubeconfig file (``$KUBECONFIG`` or ~/.kube/config)."""
        configuration = k8s_client.Configuration()
        if kubeconfig is None and context is None:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                return cls.from_configuration(configuration, timeouts)
            except ConfigException:
                pass
        if kubeconfig is not None:
            _require_file(kubeconfig)
        try:
            await k8s_config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        # kubernetes_asyncio reads the YAML without validating it: a broken file surfaces as any of
        # these, with a message that is often several lines long.
        except (
            ConfigException,
            yaml.YAMLError,
            OSError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ) as error:
            where = kubeconfig or "(default kubeconfig)"
            reason = " ".join(str(error).split()) or type(error).__name__
            raise KubeConfigError(f"kubeconfig {where}: {reason}") from error
        return cls.from_configuration(configuration, timeouts)

    @property
    def timeouts(self) -> RequestTimeouts:
        return self._timeouts

    async def close(self) -> None:
        if self._owns_api_client:
            await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _send(
        self,
        method: str,
        path: str,
        query: QueryParams,
        body: object | None,
        content_type: str,
        client_timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        headers = {"Accept": JSON_CONTENT_TYPE, "Content-Type": content_type}
        try:
            response = await self._api.call_api(
                path,
                method,
                query_params=list(query),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=client_timeout,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise KubeTimeoutError(f"{method} {path} timed out") from error
        except (aiohttp.ClientError, OSError) as error:
            raise KubeConnectionError(f"{method} {path}: {error!r}") from error
        return cast(aiohttp.ClientResponse, response)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: QueryParams = (),
        body: object | None = None,
        content_type: str = JSON_CONTENT_TYPE,
        request_timeout: float | None = None,
    ) -> KubeObject:
        """Send one request and return the decoded JSON body; non-2xx raises :class:`KubeApiError`.

        ``request_timeout`` bounds the whole request (default :attr:`RequestTimeouts.total`).
        """
        client_timeout = self._timeouts.client_timeout(request_timeout)
        response = await self._send(method, path, query, body, content_type, client_timeout)
        try:
            raw = await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise KubeTimeoutError(f"{method} {path} timed out reading the body") from error
        except (aiohttp.ClientError, OSError) as error:
            raise KubeConnectionError(f"{method} {path}: {error!r}") from error
        finally:
            response.release()
        if not 200 <= response.status <= 299:
            raise KubeApiError(response.status, _decode_status_body(raw), _retry_after(response.headers))
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError as error:
            raise KubeError(f"{method} {path}: response is not JSON: {raw[:200]!r}") from error
        if not isinstance(decoded, dict):
            raise KubeError(f"{method} {path}: response is not a JSON object")
        return decoded

    async def get(self, resource: Resource, name: str, namespace: str | None = None, **kw: Any) -> KubeObject:
        return await self.request("GET", resource.object_path(name, namespace), **kw)

    async def create(
        self, resource: Resource, body: KubeObject, namespace: str | None = None, **kw: Any
    ) -> KubeObject:
        return await self.request("POST", resource.collection_path(namespace), body=body, **kw)

    async def replace(
        self, resource: Resource, name: str, body: KubeObject, namespace: str | None = None, **kw: Any
    ) -> KubeObject:
        """PUT; when ``body.metadata.resourceVersion`` is set the server rejects stale writes with 409."""
        return await self.request("PUT", resource.object_path(name, namespace), body=body, **kw)

    async def list(
        self, resource: Resource, namespace: str | None = None, *, query: QueryParams = (), **kw: Any
    ) -> KubeObject:
        return await self.request("GET", resource.collection_path(namespace), query=query, **kw)

    @contextlib.asynccontextmanager
    async def watch(
        self,
        resource: Resource,
        namespace: str | None,
        query: QueryParams,
        *,
        read_timeout: float,
        total_timeout: float | None,
    ) -> AsyncIterator[WatchStream]:
        """Open a watch (``watch=true`` is added) and yield the stream; closed on exit.

        ``read_timeout`` is the socket read timeout (client-side stall detection); ``total_timeout``
        bounds the whole stream and should exceed the server-side ``timeoutSeconds``.
        """
        client_timeout = aiohttp.ClientTimeout(
            total=total_timeout,
            connect=self._timeouts.connect,
            sock_connect=self._timeouts.connect,
            sock_read=read_timeout,
        )
        path = resource.collection_path(namespace)
        response = await self._send(
            "GET", path, [("watch", "true"), *query], None, JSON_CONTENT_TYPE, client_timeout
        )
        try:
            if not 200 <= response.status <= 299:
                try:
                    raw = await asyncio.wait_for(response.read(), timeout=self._timeouts.total)
                except (TimeoutError, aiohttp.ClientError, OSError):
                    raw = b""
                raise KubeApiError(response.status, _decode_status_body(raw), _retry_after(response.headers))
            yield WatchStream(response)
        finally:
            response.close()
