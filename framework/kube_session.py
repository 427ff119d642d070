"""The HTTP session under :class:`framework.kube.KubeClient`: the environment is read once, not per request.

kubernetes_asyncio builds its aiohttp session with ``trust_env=True``. aiohttp then looks up, on
every request, ``~/.netrc`` for the API server's host and the proxy environment variables for its
URL, each in a thread-pool round trip (``run_in_executor`` / ``to_thread``): two thread hops per
Kubernetes request, about three times the CPU of the request itself. Neither answer changes while
the process runs, so :func:`api_client` resolves the proxy once, when the client is built, and
gives the client a session that trusts no environment.

What stays the same: a proxy from ``HTTPS_PROXY`` / ``HTTP_PROXY`` (by the server URL's scheme,
either case) is used unless ``NO_PROXY`` names the server's host, with credentials from the proxy
URL or ``~/.netrc``, exactly as aiohttp chose it per request (its own lookup is called, once); a
proxy the kubeconfig names (``proxy-url``) wins over the environment, as with client-go. What
changes: ``~/.netrc`` no longer supplies basic-auth credentials for the API server itself
(client-go never read it either), and a change to the environment after start-up is not seen.
"""

from __future__ import annotations

from typing import Final

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import client as k8s_client
from yarl import URL

READ_BUFSIZE: Final = 2**21
"""What kubernetes_asyncio gives its session: a watch event holding a large object can exceed
aiohttp's default read buffer (etcd's default request limit is 1.5 MiB)."""


def proxy_from_environment(server: str) -> str | None:
    """The proxy aiohttp's ``trust_env`` would use for requests to ``server``, or None."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(server))
    except LookupError:  # no proxy for this scheme, or NO_PROXY names the host
        return None
    if auth is not None:  # aiohttp strips the credentials off the URL; they travel in it again
        proxy = proxy.with_user(auth.login).with_password(auth.password or None)
    return str(proxy)


def api_client(configuration: k8s_client.Configuration) -> k8s_client.ApiClient:
    """An ``ApiClient`` for ``configuration`` whose session reads no environment per request.

    ``configuration.proxy`` is set from the environment when the configuration names none.
    """
    if not configuration.proxy and configuration.host:
        configuration.proxy = proxy_from_environment(configuration.host)
    api = k8s_client.ApiClient(configuration)
    rest = api.rest_client
    trusting: aiohttp.ClientSession = rest.pool_manager
    # Same connector (TLS context, connection limit) and buffer, only without trust_env; the
    # library's session gives its connector up without closing it.
    rest.pool_manager = aiohttp.ClientSession(
        connector=trusting.connector, trust_env=False, read_bufsize=READ_BUFSIZE
    )
    trusting.detach()
    return api
