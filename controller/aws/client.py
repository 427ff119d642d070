"""``AwsClient``: the one call path to EC2 and ELBv2 (pacing, retries, typed errors, metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from botocore import exceptions as boto_errors
from botocore import xform_name
from botocore.parsers import ResponseParserError
from prometheus_client import CollectorRegistry
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from controller.aws.api import Service
from controller.aws.errors import (
    CONNECTION_ERROR,
    PARAM_VALIDATION_ERROR,
    RESPONSE_PARSER_ERROR,
    TIMEOUT_ERROR,
    AwsApiError,
    AwsRetriesExhaustedError,
    is_throttling,
)
from controller.aws.metrics import AwsMetrics
from controller.aws.session import new_session
from controller.aws.settings import AwsSettings
from controller.aws.throttle import OperationThrottler
from framework.clock import REAL_CLOCK, Clock

# boto3 client names for our services.
_BOTO_SERVICE_NAMES: Mapping[Service, str] = {"ec2": "ec2", "elbv2": "elbv2"}

# (request parameter, response field) carrying the page token. EC2 pages with NextToken both
# ways; ELBv2 takes Marker and answers NextMarker.
_PAGE_TOKENS: Mapping[Service, tuple[str, str]] = {
    "ec2": ("NextToken", "NextToken"),
    "elbv2": ("Marker", "NextMarker"),
}


def is_retryable(error: BaseException) -> bool:
    """Throttling, server-side (5xx), connection and timeout failures are worth another attempt.

    A 500 that botocore could not parse (moto's HTML page for an unimplemented operation) is not:
    retrying cannot make the operation exist.
    """
    if not isinstance(error, AwsApiError) or isinstance(error, AwsRetriesExhaustedError):
        return False
    if error.code in (CONNECTION_ERROR, TIMEOUT_ERROR) or is_throttling(error.code):
        return True
    if error.code == RESPONSE_PARSER_ERROR:
        return False
    return error.status_code is not None and error.status_code >= 500


def translate_error(service: str, operation: str, error: BaseException) -> AwsApiError:
    """Turn whatever botocore/aiohttp raised into an ``AwsApiError`` with the AWS code."""
    if isinstance(error, boto_errors.ClientError):
        body = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return AwsApiError(
            service=service,
            operation=operation,
            code=str(body.get("Code") or "Unknown"),
            message=str(body.get("Message") or ""),
            status_code=int(status) if status is not None else None,
        )
    if isinstance(error, ResponseParserError):
        code = RESPONSE_PARSER_ERROR
    elif isinstance(error, boto_errors.ParamValidationError):
        code = PARAM_VALIDATION_ERROR
    elif isinstance(error, boto_errors.ReadTimeoutError | boto_errors.ConnectTimeoutError | TimeoutError):
        code = TIMEOUT_ERROR
    elif isinstance(error, boto_errors.HTTPClientError | aiohttp.ClientError | ConnectionError):
        code = CONNECTION_ERROR
    else:
        code = type(error).__name__
    return AwsApiError(service=service, operation=operation, code=code, message=str(error) or code)


class AwsClient:
    """Implements ``controller.aws.api.AwsApi`` over aiobotocore clients.

    Each HTTP attempt first waits for the client-side token buckets of its operation (a throttling
    answer lowers that operation's rate for a while), then runs under an overall timeout; tenacity retries retryable failures with full-jitter exponential
    backoff (botocore's own retries are off, so this is the only retry layer).
    """

    def __init__(
        self,
        clients: Mapping[Service, Any],
        settings: AwsSettings,
        metrics: AwsMetrics,
        clock: Clock,
    ) -> None:
        self._clients = clients
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._throttler = OperationThrottler(settings.throttle, clock)
        self._service_ids = {name: client.meta.service_model.service_id for name, client in clients.items()}

    @property
    def settings(self) -> AwsSettings:
        return self._settings

    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
        client = self._clients[service]
        if operation not in client.meta.service_model.operation_names:
            raise ValueError(f"{service} has no operation {operation!r}")
        method = getattr(client, xform_name(operation))
        service_id = self._service_ids[service]
        retry = self._settings.retry
        started = self._clock.now()
        attempts = 0

        async def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            waited = await self._throttler.wait(service, operation)
            self._metrics.observe_throttle(
                service_id, operation, waited, self._throttler.current_rate(service, operation)
            )
            sent = self._clock.now()
            try:
                async with asyncio.timeout(self._settings.attempt_timeout):
                    response: dict[str, Any] = await method(**params)
            except Exception as raw:
                error = translate_error(service, operation, raw)
                if is_throttling(error.code):
                    self._throttler.throttled(service, operation)
                self._metrics.observe_request(
                    service_id, operation, error.status_code, error.code, self._clock.now() - sent
                )
                raise error from raw
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
            self._metrics.observe_request(service_id, operation, status, "", self._clock.now() - sent)
            return response

        retrying = AsyncRetrying(
            stop=stop_after_attempt(retry.max_retries + 1),
            wait=wait_random_exponential(multiplier=retry.backoff_base, max=retry.backoff_cap),
            retry=retry_if_exception(is_retryable),
            sleep=self._clock.sleep,
            reraise=True,
        )
        try:
            result: dict[str, Any] = await retrying(attempt)
        except AwsApiError as error:
            self._metrics.observe_call(
                service_id,
                operation,
                error.status_code,
                error.code,
                self._clock.now() - started,
                attempts - 1,
            )
            error.attempts = attempts
            if is_retryable(error):
                raise AwsRetriesExhaustedError(
                    service=error.service,
                    operation=operation,
                    code=error.code,
                    message=error.message,
                    status_code=error.status_code,
                    attempts=attempts,
                ) from error
            raise
        status = result.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
        self._metrics.observe_call(
            service_id, operation, status, "", self._clock.now() - started, attempts - 1
        )
        return result

    async def paginate(
        self, service: Service, operation: str, result_key: str, **params: Any
    ) -> list[dict[str, Any]]:
        request_token, response_token = _PAGE_TOKENS[service]
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            page = await self.call(service, operation, **params)
            items.extend(page.get(result_key, []))
            token = page.get(response_token)
            if not token:
                return items
            if token in seen:
                # moto gap #7: duplicate LB names can make a server repeat its token forever.
                raise AwsApiError(
                    service=service,
                    operation=operation,
                    code="PaginationLoop",
                    message=f"the server returned page token {token!r} twice",
                )
            seen.add(token)
            params = {**params, request_token: token}


@asynccontextmanager
async def open_aws_client(
    settings: AwsSettings, registry: CollectorRegistry, clock: Clock | None = None
) -> AsyncIterator[AwsClient]:
    """Open EC2 and ELBv2 clients from one aiobotocore session and close them on exit."""
    config = AioConfig(
        region_name=settings.region,
        max_pool_connections=settings.max_pool_connections,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        # One attempt per botocore call: tenacity is the only retry layer.
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    credentials: dict[str, Any] = {}
    if settings.credentials is not None:
        credentials = {
            "aws_access_key_id": settings.credentials.access_key_id,
            "aws_secret_access_key": settings.credentials.secret_access_key,
            "aws_session_token": settings.credentials.session_token,
        }
    session = new_session()
    async with AsyncExitStack() as stack:
        clients: dict[Service, Any] = {}
        for service, boto_name in _BOTO_SERVICE_NAMES.items():
            clients[service] = await stack.enter_async_context(
                session.create_client(
                    boto_name,
                    region_name=settings.region,
                    endpoint_url=settings.endpoint_url,
                    config=config,
                    **credentials,
                )
            )
        yield AwsClient(clients, settings, AwsMetrics(registry), clock or REAL_CLOCK)
