"""The seam between the product and AWS: everything above this line talks to ``AwsApi`` only."""

from __future__ import annotations

from typing import Any, Literal, Protocol

Service = Literal["ec2", "elbv2"]


class AwsApi(Protocol):
    """Calls one AWS operation by its API name (``DescribeSecurityGroups``), with AWS-cased parameters.

    Implementations retry what is retryable, pace themselves with client-side token buckets, record
    metrics, and raise ``controller.aws.errors.AwsApiError`` for anything else.
    """

    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]: ...

    async def paginate(
        self, service: Service, operation: str, result_key: str, **params: Any
    ) -> list[dict[str, Any]]:
        """Follow NextToken/Marker pages and return the concatenated ``result_key`` lists."""
        ...
