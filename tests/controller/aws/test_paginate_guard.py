"""paginate stops with a typed error when a server repeats a page token (moto gap #7 shape)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller.aws.client import AwsClient
from controller.aws.errors import AwsApiError
from controller.aws.metrics import AwsMetrics
from controller.aws.settings import AwsSettings
from controller.aws.throttle import ThrottleSettings
from controller.sandbox.clock import SteppingClock


class RepeatingPagesClient:
    """A botocore-shaped EC2 client whose every page points at the same next page."""

    meta = SimpleNamespace(
        service_model=SimpleNamespace(service_id="EC2", operation_names=["DescribeSecurityGroups"])
    )

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def describe_security_groups(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        return {"SecurityGroups": [{"GroupId": "sg-1"}], "NextToken": "again", "ResponseMetadata": {}}


async def test_repeated_page_token_is_a_typed_error_not_an_endless_loop() -> None:
    fake = RepeatingPagesClient()
    settings = AwsSettings(region="us-west-2", throttle=ThrottleSettings(rules=()))
    client = AwsClient({"ec2": fake}, settings, AwsMetrics(CollectorRegistry()), SteppingClock())

    with pytest.raises(AwsApiError) as caught:
        await client.paginate("ec2", "DescribeSecurityGroups", "SecurityGroups")

    assert caught.value.code == "PaginationLoop"
    assert fake.requests == [{}, {"NextToken": "again"}]
