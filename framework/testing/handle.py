"""The handle every API-server fixture yields, whether it is the stand-in or a real kube-apiserver."""

from __future__ import annotations

import pathlib
from typing import Protocol, runtime_checkable

from kubernetes_asyncio.client import Configuration


@runtime_checkable
class ApiServerHandle(Protocol):
    """A running Kubernetes API server that tests talk to over HTTP(S).

    `kind` is "standin" for `StandInApiServer` and "real" for a kube-apiserver; `server` is its
    base URL; `kubeconfig_path` is a kubeconfig for kubectl and kubernetes_asyncio."""

    @property
    def kind(self) -> str: ...

    @property
    def server(self) -> str: ...

    @property
    def kubeconfig_path(self) -> pathlib.Path: ...

    def client_configuration(self) -> Configuration:
        """A fresh kubernetes_asyncio configuration for this server (callers may modify it)."""
        ...
