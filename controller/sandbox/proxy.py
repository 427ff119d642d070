"""An aiohttp proxy in front of moto that makes it answer like AWS.

It adds what moto lacks (DependencyViolation, duplicate group-pair detection, atomic authorizes
that name a missing source group, canonical rule CIDRs, EC2's and ELBv2's refusal of tags beyond
their limits, the rules-per-security-group quota, ELBv2's refusal of HTTPS/TLS listeners without a
certificate and of unknown SSL policies, ELBv2 deletion protection), enforces
per-operation token buckets and answers throttling errors the way EC2 and ELBv2 do, injects
scripted faults, and counts and logs every request so tests and benchmarks can assert on the
calls a controller made.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Literal
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from controller.aws.aws_limits import AWS_API_LIMITS
from controller.aws.throttle import TokenBucket
from controller.sandbox.aws_errors import error_response, throttling_response
from controller.sandbox.client_settings import SANDBOX_CREDENTIALS
from controller.sandbox.ec2_semantics import (
    CIDR_CANONICALISING_OPERATIONS,
    DEFAULT_RULES_PER_SECURITY_GROUP,
    MotoBackend,
    RuleViolation,
    canonical_cidr_params,
    check_authorize_duplicate_pairs,
    check_authorize_rule_quota,
    check_authorize_source_groups,
    check_delete_security_group,
)
from controller.sandbox.elbv2_semantics import (
    LISTENER_OPERATIONS,
    check_delete_load_balancer,
    check_listener,
)
from controller.sandbox.faults import FaultKind, FaultPlan
from controller.sandbox.seed import SANDBOX_REGION
from controller.sandbox.tag_semantics import check_request_tags
from framework.clock import REAL_CLOCK, Clock

SandboxService = Literal["ec2", "elbv2", "other"]
_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_API_VERSIONS: dict[str, SandboxService] = {"2016-11-15": "ec2", "2015-12-01": "elbv2"}
_SIGNING_NAMES: dict[str, SandboxService] = {"ec2": "ec2", "elasticloadbalancing": "elbv2"}
# Hop-by-hop or recomputed headers that must not be copied between the two legs. Bodies are
# relayed as raw bytes (no decompression), so Content-Encoding stays.
_DROP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)
_VIOLATION_OUTCOMES = {"DependencyViolation": "dependency", "InvalidGroup.NotFound": "not-found"}


@dataclass(frozen=True)
class RequestRecord:
    """One request as the proxy saw it and what it answered."""

    service: SandboxService
    operation: str
    status: int
    # forwarded | throttled | fault | reset | dependency | duplicate | not-found | invalid-tag | limit
    # | invalid-listener | protected
    outcome: str
    params: dict[str, str] = field(default_factory=dict)
    region: str = ""


@dataclass
class _ThrottleRule:
    pattern: str
    rate: float
    burst: int
    service: SandboxService | None  # None: every service
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)

    def matches(self, service: str, operation: str) -> bool:
        return (self.service is None or self.service == service) and re.fullmatch(
            self.pattern, operation
        ) is not None


class AwsProxy:
    """Async context manager: ``async with AwsProxy(moto.url) as proxy: ... proxy.url``.

    Binds ``host`` (127.0.0.1 unless the proxy must be reachable from other containers) on
    ``port`` (0: a free port). ``clock`` drives the throttling buckets, so
    tests can freeze or advance time. ``rules_per_security_group`` is the inbound (and outbound)
    rules quota per SG, as AWS counts it; tests may lower it at any time.
    """

    def __init__(
        self,
        moto_url: str,
        *,
        clock: Clock | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        rules_per_security_group: int = DEFAULT_RULES_PER_SECURITY_GROUP,
    ) -> None:
        self.rules_per_security_group = rules_per_security_group
        self._moto_url = moto_url.rstrip("/")
        self._port = port
        self._host = host
        self._clock = clock or REAL_CLOCK
        self.faults = FaultPlan()
        self._throttles: list[_ThrottleRule] = []
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self.request_log: list[RequestRecord] = []
        self._backend = MotoBackend(self._moto_url)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._url: str | None = None
        # One request at a time into moto: its backends are not thread-safe, and concurrent writes
        # and describes on the same resources make its threaded server answer an HTML 500 now and
        # then, which AWS never does (AWS serves concurrent requests consistently). moto is bound by
        # its own GIL, so serving them in turn costs little.
        self._moto_turn = asyncio.Lock()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("proxy is not running")
        return self._url

    # ---- configuration -------------------------------------------------------------------

    def throttle(
        self, operation_regex: str, rate: float, burst: int, *, service: SandboxService | None = None
    ) -> None:
        """Throttle operations fully matching ``operation_regex`` (of ``service``, or of every
        service); each operation gets its own bucket, as AWS evaluates each API individually. A
        later rule wins over an earlier one."""
        self._throttles.insert(0, _ThrottleRule(operation_regex, rate, burst, service))

    def use_documented_aws_limits(self) -> None:
        """Enforce AWS's per-API buckets at 100% (``controller.aws.aws_limits``: EC2's documented
        values; for ELBv2, which publishes none, upstream LBC's defaults)."""
        for limit in AWS_API_LIMITS:
            self.throttle(limit.pattern, limit.rate, limit.burst, service=limit.service)

    def clear_throttles(self) -> None:
        self._throttles.clear()

    # ---- what AWS does by itself ---------------------------------------------------------

    async def tag_as_aws(
        self,
        resource_id: str,
        tags: Mapping[str, str],
        *,
        region: str = SANDBOX_REGION,
        access_key: str = SANDBOX_CREDENTIALS.access_key_id,
    ) -> None:
        """Put EC2 tags on ``resource_id`` the way AWS services do for themselves (CloudFormation's
        ``aws:`` tags), which the proxy refuses to any caller: straight to moto, neither checked
        nor counted."""
        ec2 = await self._backend.client("ec2", region, access_key)
        await ec2.create_tags(Resources=[resource_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    # ---- observations --------------------------------------------------------------------

    def calls_by_operation(self) -> Counter[str]:
        """Every request received (including throttled and faulted ones), by operation."""
        return Counter(self._calls)

    def throttled_by_operation(self) -> Counter[str]:
        """Requests answered with a throttling error, by operation."""
        return Counter(self._throttled)

    def reset_counts(self) -> None:
        self._calls.clear()
        self._throttled.clear()
        self.request_log.clear()

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._session = aiohttp.ClientSession(timeout=_UPSTREAM_TIMEOUT, auto_decompress=False)
        # A client that gives up (timeout) cancels its request here too, as it would at AWS; and
        # shutdown does not wait long for requests still held by a delay fault.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._backend.close()
        self._url = None

    async def __aenter__(self) -> AwsProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- request handling ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params.update(request.query)
        operation = params.get("Action", "")
        if not operation:
            return await self._forward(request, body)
        service, region, access_key = _identify(request, params)
        self._calls[operation] += 1
        log = partial(self._log, service, operation, params=params, region=region)

        fault = self.faults.take(operation)
        if fault is not None:
            if fault.kind is FaultKind.DELAY:
                await asyncio.sleep(fault.seconds)
            elif fault.kind is FaultKind.RESET:
                log(0, "reset")
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing can be sent on an aborted connection
            else:
                log(fault.status, "fault")
                return error_response(service, fault.code, fault.message, fault.status)

        if not self.admit(operation, service):
            self._throttled[operation] += 1
            response = throttling_response(service)
            log(response.status, "throttled")
            return response

        violation = await self._check_semantics(service, operation, region, access_key, params)
        if violation is not None:
            outcome = violation.outcome or _VIOLATION_OUTCOMES.get(violation.code, "duplicate")
            log(violation.status, outcome)
            return error_response(service, violation.code, violation.message, violation.status)

        if service == "ec2" and operation in CIDR_CANONICALISING_OPERATIONS:
            body = _with_canonical_cidrs(body)
        response = await self._forward(request, body)
        log(response.status, "forwarded")
        return response

    def admit(self, operation: str, service: SandboxService = "ec2") -> bool:
        """Take a token for ``operation`` from its bucket, as each request does; ``False`` means
        the request is answered with a throttling error. Operations without a rule always pass."""
        for rule in self._throttles:
            if rule.matches(service, operation):
                key = (service, operation)
                bucket = rule.buckets.get(key)
                if bucket is None:
                    bucket = rule.buckets[key] = TokenBucket(rule.rate, rule.burst, self._clock)
                return bucket.try_take()
        return True

    async def _check_semantics(
        self, service: SandboxService, operation: str, region: str, access_key: str, params: dict[str, str]
    ) -> RuleViolation | None:
        # Before the EC2-only checks: ELBv2 refuses bad tags too, and AWS validates input first.
        invalid_tags = check_request_tags(service, operation, params)
        if invalid_tags is not None:
            return invalid_tags
        if service == "elbv2" and operation in LISTENER_OPERATIONS:
            return await check_listener(self._backend, region, access_key, operation, params)
        if service == "elbv2" and operation == "DeleteLoadBalancer":
            return await check_delete_load_balancer(self._backend, region, access_key, params)
        if service != "ec2":
            return None
        if operation == "DeleteSecurityGroup":
            return await check_delete_security_group(self._backend, region, access_key, params)
        if operation in ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"):
            missing = await check_authorize_source_groups(self._backend, region, access_key, params)
            if missing is not None:
                return missing
            egress = operation.endswith("Egress")
            duplicate = await check_authorize_duplicate_pairs(
                self._backend, region, access_key, params, egress=egress
            )
            if duplicate is not None:
                return duplicate
            return await check_authorize_rule_quota(
                self._backend, region, access_key, params, egress=egress, quota=self.rules_per_security_group
            )
        return None

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None, "proxy is not running"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}
        async with (
            self._moto_turn,
            self._session.request(
                request.method, self._moto_url + request.path_qs, data=body, headers=headers
            ) as upstream,
        ):
            payload = await upstream.read()
            response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_HEADERS}
            return web.Response(status=upstream.status, body=payload, headers=response_headers)

    def _log(
        self,
        service: SandboxService,
        operation: str,
        status: int,
        outcome: str,
        *,
        params: dict[str, str],
        region: str,
    ) -> None:
        self.request_log.append(RequestRecord(service, operation, status, outcome, params, region))


def _with_canonical_cidrs(body: bytes) -> bytes:
    """The form body with rule CIDRs as AWS stores them (moto keeps them as written)."""
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    canonical = canonical_cidr_params(params)
    return body if canonical is None else urlencode(canonical).encode()


def _identify(request: web.Request, params: dict[str, str]) -> tuple[SandboxService, str, str]:
    """(service, region, access key) from the SigV4 credential scope, else from the API version."""
    match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
    if match:
        access_key, region, signing_name = match.groups()
        return _SIGNING_NAMES.get(signing_name, "other"), region, access_key
    return _API_VERSIONS.get(params.get("Version", ""), "other"), "us-east-1", "testing"
