"""A kubeconfig pointing kubectl and kubernetes_asyncio at a plain-HTTP server."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import yaml

CONTEXT_NAME = "standin"


def kubeconfig_document(server_url: str, *, context: str = CONTEXT_NAME) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server_url}}],
        # A token is sent but never checked: the stand-in does no authentication.
        "users": [{"name": context, "user": {"token": "standin"}}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}
        ],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: pathlib.Path, server_url: str, *, context: str = CONTEXT_NAME) -> pathlib.Path:
    """Write atomically (other processes may be polling for the file) with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(yaml.safe_dump(kubeconfig_document(server_url, context=context), sort_keys=False))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path
