"""AWS client settings for talking to the sandbox (moto behind the proxy).

Shared by the pytest fixtures, ``make run`` and the benchmarks, so production entry points never
import pytest to get them.
"""

from __future__ import annotations

from controller.aws.settings import AwsSettings, RetrySettings, StaticCredentials
from controller.aws.throttle import ThrottleSettings
from controller.sandbox.seed import SANDBOX_REGION

SANDBOX_CREDENTIALS = StaticCredentials(access_key_id="testing", secret_access_key="testing")


def sandbox_settings(endpoint_url: str, **overrides: object) -> AwsSettings:
    """Settings for a client of the sandbox: fast backoff, no client-side throttling, short timeouts."""
    values: dict[str, object] = {
        "region": SANDBOX_REGION,
        "endpoint_url": endpoint_url,
        "retry": RetrySettings(max_retries=10, backoff_base=0.001, backoff_cap=0.01),
        "throttle": ThrottleSettings(rules=()),
        "max_pool_connections": 32,
        "connect_timeout": 5.0,
        "read_timeout": 10.0,
        "attempt_timeout": 10.0,
        "credentials": SANDBOX_CREDENTIALS,
    }
    values.update(overrides)
    return AwsSettings(**values)  # type: ignore[arg-type]
