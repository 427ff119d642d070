"""The one path every EC2 and ELBv2 call takes.

Use ``open_aws_client(settings, registry)`` to get an ``AwsClient``. Code above this package calls
AWS through the typed facades ``Ec2`` and ``Elbv2`` (built over the ``AwsApi`` protocol, never
naming an operation or reading an AWS-cased key itself) and handles ``AwsApiError``.
"""

from controller.aws.api import AwsApi, Service
from controller.aws.client import AwsClient, open_aws_client
from controller.aws.ec2 import Ec2
from controller.aws.elbv2 import Elbv2
from controller.aws.errors import AwsApiError, AwsRetriesExhaustedError
from controller.aws.settings import AwsSettings, RetrySettings, StaticCredentials
from controller.aws.throttle import ThrottleRule, ThrottleSettings

__all__ = [
    "AwsApi",
    "AwsApiError",
    "AwsClient",
    "AwsRetriesExhaustedError",
    "AwsSettings",
    "Ec2",
    "Elbv2",
    "RetrySettings",
    "Service",
    "StaticCredentials",
    "ThrottleRule",
    "ThrottleSettings",
    "open_aws_client",
]
