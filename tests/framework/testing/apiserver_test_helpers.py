"""Helpers the API server tests call directly: unique object names and raw requests whose
status and body the typed kubernetes_asyncio calls cannot show (fixtures stay in ``conftest.py``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from typing import Any

import aiohttp
from kubernetes_asyncio import client


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def raw_json(call: Awaitable[Any]) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a kubernetes_asyncio call made with `_preload_content=False`, for
    responses whose shape the typed return value cannot hold (e.g. DELETE answering with the object)."""
    response = await call
    try:
        return response.status, await response.json(content_type=None)
    finally:
        response.release()


async def raw_request(
    api_client: client.ApiClient,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    accept: str = "application/json",
) -> tuple[int, Any]:
    """Send exactly these bytes (e.g. malformed JSON) with the client's connection and credentials;
    returns the status and the decoded JSON body (or text when it is not JSON)."""
    configuration = api_client.configuration
    headers = {"Accept": accept}
    for setting in (await configuration.auth_settings()).values():
        headers[setting["key"]] = setting["value"]
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await api_client.rest_client.pool_manager.request(
        method, configuration.host + path, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
    )
    async with response:
        payload = await response.read()
        if response.content_type == "application/json":
            return response.status, json.loads(payload)
        return response.status, payload.decode()
