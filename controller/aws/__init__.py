"""The one path every EC2 and ELBv2 call takes.

Use ``open_aws_client(settings, registry)`` to get an ``AwsClient``; code above this package
depends only on the ``AwsApi`` protocol and ``AwsApiError``.
"""

from controller.aws.api import AwsApi, Service
from controller.aws.client import AwsClient, open_aws_client
from controller.aws.errors import AwsApiError, AwsRetriesExhaustedError
from controller.aws.settings import AwsSettings, RetrySettings, StaticCredentials
from controller.aws.throttle import ThrottleConfig, ThrottleRule

__all__ = [
    "AwsApi",
    "AwsApiError",
    "AwsClient",
    "AwsRetriesExhaustedError",
    "AwsSettings",
    "RetrySettings",
    "Service",
    "StaticCredentials",
    "ThrottleConfig",
    "ThrottleRule",
    "open_aws_client",
]
