"""The seam between the product and AWS: every call goes through ``AwsApi``.

The product reaches it through the typed facades (``controller.aws.ec2.Ec2``,
``controller.aws.elbv2.Elbv2``), the only modules outside the sandbox that name an operation.
"""

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
