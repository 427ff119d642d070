"""AWS SDK metrics under upstream LBC's names and labels, so dashboards and alerts carry over.

``service`` is the SDK service ID (``EC2``, ``Elastic Load Balancing v2``), as upstream reports it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller.aws.errors import (
    is_permission_error,
    is_service_limit_error,
    is_throttling,
    is_validation_error,
)

_CALL_LABELS = ("service", "operation", "status_code", "error_code")
_OP_LABELS = ("service", "operation")


class AwsMetrics:
    """The instruments; one instance per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls_total = Counter(
            "aws_api_calls_total",
            "Total number of SDK API calls from the customer's code to AWS services",
            _CALL_LABELS,
            registry=registry,
        )
        self.call_duration_seconds = Histogram(
            "aws_api_call_duration_seconds",
            "Perceived latency from when your code makes an SDK call, includes retries",
            _OP_LABELS,
            registry=registry,
        )
        self.call_retries = Histogram(
            "aws_api_call_retries",
            "Number of times the SDK retried requests to AWS services for SDK API calls",
            _OP_LABELS,
            buckets=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
            registry=registry,
        )
        self.requests_total = Counter(
            "aws_api_requests_total",
            "Total number of HTTP requests that the SDK made",
            _CALL_LABELS,
            registry=registry,
        )
        self.request_duration_seconds = Histogram(
            "aws_api_request_duration_seconds",
            "Latency of an individual HTTP request to the service endpoint",
            _OP_LABELS,
            registry=registry,
        )
        self.permission_errors_total = Counter(
            "aws_api_call_permission_errors_total",
            "Number of failed AWS API calls due to auth or authorization failures",
            _CALL_LABELS,
            registry=registry,
        )
        self.service_limit_exceeded_errors_total = Counter(
            "aws_api_call_service_limit_exceeded_errors_total",
            "Number of failed AWS API calls due to exceeding service limit",
            _CALL_LABELS,
            registry=registry,
        )
        self.throttled_errors_total = Counter(
            "aws_api_call_throttled_errors_total",
            "Number of failed AWS API calls due to throttling error",
            _CALL_LABELS,
            registry=registry,
        )
        # Ours, not upstream's: how long calls waited for our own client-side buckets, and the
        # rate each operation is paced at now (below the configured one after AWS throttled us).
        self.throttle_wait_seconds = Histogram(
            "aws_api_throttle_wait_seconds",
            "Time an HTTP request to AWS waited for the client-side token buckets of its operation",
            _OP_LABELS,
            buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=registry,
        )
        self.throttle_rate = Gauge(
            "aws_api_throttle_rate",
            "Requests per second the client-side throttle allows the operation now (adaptive)",
            _OP_LABELS,
            registry=registry,
        )
        self.validation_errors_total = Counter(
            "aws_api_call_validation_errors_total",
            "Number of failed AWS API calls due to validation error",
            _CALL_LABELS,
            registry=registry,
        )

    def observe_request(
        self, service: str, operation: str, status_code: int | None, error_code: str, seconds: float
    ) -> None:
        """One HTTP attempt; error counters count attempts, as upstream's per-request handler does."""
        labels = (service, operation, _status_label(status_code), error_code)
        self.requests_total.labels(*labels).inc()
        self.request_duration_seconds.labels(service, operation).observe(seconds)
        if not error_code:
            return
        if is_throttling(error_code):
            self.throttled_errors_total.labels(*labels).inc()
        if is_permission_error(error_code, status_code):
            self.permission_errors_total.labels(*labels).inc()
        if is_service_limit_error(error_code):
            self.service_limit_exceeded_errors_total.labels(*labels).inc()
        if is_validation_error(error_code):
            self.validation_errors_total.labels(*labels).inc()

    def observe_throttle(self, service: str, operation: str, waited: float, rate: float | None) -> None:
        """One wait for the client-side buckets, and the operation's rate (``None``: not paced)."""
        self.throttle_wait_seconds.labels(service, operation).observe(waited)
        if rate is not None:
            self.throttle_rate.labels(service, operation).set(rate)

    def observe_call(
        self,
        service: str,
        operation: str,
        status_code: int | None,
        error_code: str,
        seconds: float,
        retries: int,
    ) -> None:
        """One API call as the caller saw it, after all retries."""
        self.calls_total.labels(service, operation, _status_label(status_code), error_code).inc()
        self.call_duration_seconds.labels(service, operation).observe(seconds)
        self.call_retries.labels(service, operation).observe(retries)


def _status_label(status_code: int | None) -> str:
    # No HTTP response (connection reset, timeout): upstream reports status 0.
    return str(status_code) if status_code is not None else "0"
