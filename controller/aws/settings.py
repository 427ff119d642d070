"""Settings of the AWS layer, resolved once at start-up from flags and the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.aws.throttle import ThrottleSettings


@dataclass(frozen=True)
class StaticCredentials:
    """Explicit keys, for the sandbox and tests only; production leaves credentials to the standard chain."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class RetrySettings:
    """Exponential backoff with full jitter: attempt n sleeps uniform(0, min(cap, base * 2**n))."""

    max_retries: int = 10
    backoff_base: float = 0.1
    backoff_cap: float = 20.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("backoff_base and backoff_cap must be >= 0")


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS.

    ``credentials=None`` means botocore's standard chain (environment, shared files, web identity
    for IRSA, container and instance metadata). ``max_pool_connections`` should be at least the
    number of concurrent AWS calls (the sum of workers), otherwise calls queue for a connection.
    Every attempt is bounded by ``connect_timeout``/``read_timeout`` in botocore and by
    ``attempt_timeout`` overall.
    """

    region: str
    endpoint_url: str | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    max_pool_connections: int = 32
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    attempt_timeout: float = 30.0
    credentials: StaticCredentials | None = None

    def __post_init__(self) -> None:
        if not self.region:
            raise ValueError("an AWS region is required (--aws-region, AWS_REGION or AWS_DEFAULT_REGION)")
        if self.max_pool_connections < 1:
            raise ValueError("max_pool_connections must be >= 1")
        if min(self.connect_timeout, self.read_timeout, self.attempt_timeout) <= 0:
            raise ValueError("timeouts must be > 0")

    @classmethod
    def resolve(
        cls,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_retries: int = 10,
        throttle: str | None = None,
        max_pool_connections: int = 32,
        environ: Mapping[str, str] | None = None,
    ) -> AwsSettings:
        """Build settings from flag values, falling back to ``AWS_REGION``/``AWS_DEFAULT_REGION`` and
        ``AWS_ENDPOINT_URL``; a flag always wins over the environment."""
        env = os.environ if environ is None else environ
        resolved_region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
        resolved_endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL") or None
        return cls(
            region=resolved_region,
            endpoint_url=resolved_endpoint,
            retry=RetrySettings(max_retries=max_retries),
            throttle=ThrottleSettings.parse(throttle) if throttle else ThrottleSettings(),
            max_pool_connections=max_pool_connections,
        )
