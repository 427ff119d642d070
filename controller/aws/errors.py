"""Typed errors for AWS calls: every failure that leaves the AWS layer is an ``AwsApiError``."""

from __future__ import annotations


class AwsApiError(Exception):
    """An AWS API call failed with an error the caller must handle (retries are already spent).

    ``code`` is the AWS error code (``InvalidGroup.NotFound``, ``DependencyViolation``, ...), or a
    local code such as ``ConnectionError`` when no response was received.
    """

    def __init__(
        self, *, service: str, operation: str, code: str, message: str, status_code: int | None = None
    ) -> None:
        super().__init__(f"{service}:{operation} failed: {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.status_code = status_code


THROTTLING_CODES = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})
PERMISSION_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure"})
