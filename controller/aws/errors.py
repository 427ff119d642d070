"""Typed errors for AWS calls: every failure that leaves the AWS layer is an ``AwsApiError``."""

from __future__ import annotations


class AwsApiError(Exception):
    """An AWS API call failed with an error the caller must handle (retries are already spent).

    ``code`` is the AWS error code (``InvalidGroup.NotFound``, ``DependencyViolation``, ...), or a
    local code such as ``ConnectionError`` when no response was received. ``attempts`` is how many
    HTTP attempts were made before giving up.
    """

    def __init__(
        self,
        *,
        service: str,
        operation: str,
        code: str,
        message: str,
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        after = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{service}:{operation} failed{after}: {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.status_code = status_code
        self.attempts = attempts


class AwsRetriesExhaustedError(AwsApiError):
    """A retryable failure (throttling, 5xx, connection, timeout) persisted through every attempt."""


THROTTLING_CODES = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})
PERMISSION_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure"}
)
VALIDATION_CODES = frozenset({"ValidationError"})

# Local codes for failures that never produced an AWS error response.
CONNECTION_ERROR = "ConnectionError"
TIMEOUT_ERROR = "RequestTimeout"
# moto answers unimplemented operations with an HTML 500 that botocore cannot parse.
RESPONSE_PARSER_ERROR = "ResponseParserError"
PARAM_VALIDATION_ERROR = "ParamValidationError"


def is_throttling(code: str) -> bool:
    return code in THROTTLING_CODES


def is_permission_error(code: str, status_code: int | None) -> bool:
    return code in PERMISSION_CODES or status_code in (401, 403)


def is_service_limit_error(code: str) -> bool:
    return "LimitExceeded" in code and code != "RequestLimitExceeded"


def is_validation_error(code: str) -> bool:
    return code in VALIDATION_CODES
