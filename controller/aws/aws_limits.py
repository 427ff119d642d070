"""AWS's own request-rate buckets per API: the one table our client defaults and the sandbox proxy share.

AWS keeps one token bucket per API action, per account and Region. Our client takes
``CLIENT_SHARE_OF_AWS_LIMITS`` of each bucket (the account's buckets are shared with every other
client: consoles, Terraform, other controllers); the sandbox proxy enforces them at 100%, so the
time AWS's buckets alone would impose on a workload is measurable.

Every pattern is anchored at both ends, so it means the same whether searched (the
``--aws-api-throttle`` flag's semantics, where every matching rule applies) or full-matched (the
proxy's), and the patterns of one service never overlap: each operation gets exactly one limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from controller.aws.api import Service

# The share of each AWS bucket (capacity and refill rate) our client allows itself by default.
CLIENT_SHARE_OF_AWS_LIMITS = 0.8


@dataclass(frozen=True)
class AwsApiLimit:
    """The bucket AWS keeps for every operation of ``service`` fully matching ``pattern``."""

    service: Service
    pattern: str
    rate: float  # tokens refilled per second
    burst: int  # bucket capacity
    source: str

    def share(self, fraction: float) -> tuple[float, int]:
        """(rate, burst) scaled to ``fraction``, the burst rounded down but at least one token. The
        rate is rounded to 6 decimals so it survives the flag's text form (3 x 0.8 is 2.4000000000000004)."""
        return round(self.rate * fraction, 6), max(1, math.floor(self.burst * fraction))


def _exactly(operations: Iterable[str]) -> str:
    return "(?:" + "|".join(sorted(operations)) + ")"


_EC2_PAGE = 'EC2 developer guide, "Request throttling for the Amazon EC2 API"'
_NON_MUTATING_PREFIXES = ("Describe", "Get", "List", "Search")
# "Unfiltered and unpaginated non-mutating actions" get a smaller bucket when called without a
# filter or pagination. The page does not say whether an ID list (GroupIds) counts as a filter,
# so we assume every call of these actions draws from the smaller bucket.
_EC2_UNFILTERED = (
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeVolumes",
)
# "Uncategorized actions" with their own documented bucket, limited to the security-group, tag
# and network-interface actions a load balancer controller may call. ("Resource-intensive
# actions", among them Authorize/RevokeSecurityGroupIngress, have the same 50/5 as other mutating
# actions; with one bucket per API they need no rule of their own.)
_EC2_UNCATEGORIZED: dict[str, tuple[float, int]] = {
    "CreateTags": (10.0, 100),
    "DeleteTags": (10.0, 100),
    "DescribeSecurityGroupReferences": (5.0, 20),
    "DescribeStaleSecurityGroups": (5.0, 20),
    "CreateNetworkInterface": (5.0, 100),
    "DeleteNetworkInterface": (5.0, 100),
    "ModifyNetworkInterfaceAttribute": (5.0, 100),
}
_EC2_OWN_BUCKETS = _exactly((*_EC2_UNFILTERED, *_EC2_UNCATEGORIZED))
_EC2_NON_MUTATING = _exactly(_NON_MUTATING_PREFIXES)

# AWS publishes no per-API numbers for ELBv2. Upstream LBC's built-in --aws-api-throttle rules
# (pkg/aws/throttle/defaults.go) are the best-tested values: RegisterTargets/DeregisterTargets 4/s
# burst 20, Describe* 50/s burst 200, Modify* 3/s burst 20; we take each as that API's bucket.
# Upstream leaves the remaining operations (Create*, Delete*, tags, Set*) unthrottled; we give each
# 10/s burst 40, the value upstream's flag documentation uses for ELBv2 as a whole.
_ELBV2_SOURCE = "not published by AWS; upstream LBC's built-in --aws-api-throttle rules"
_ELBV2_OTHER_SOURCE = "not published by AWS; upstream's documented example for ELBv2 (.*=10:40)"
_ELBV2_TARGETS = _exactly(("RegisterTargets", "DeregisterTargets"))

AWS_API_LIMITS: tuple[AwsApiLimit, ...] = (
    AwsApiLimit(
        "ec2",
        f"^(?!{_EC2_OWN_BUCKETS}$){_EC2_NON_MUTATING}.*$",
        rate=20.0,
        burst=100,
        source=f"{_EC2_PAGE}: non-mutating actions",
    ),
    AwsApiLimit(
        "ec2",
        f"^{_exactly(_EC2_UNFILTERED)}$",
        rate=10.0,
        burst=50,
        source=f"{_EC2_PAGE}: unfiltered and unpaginated non-mutating actions",
    ),
    AwsApiLimit(
        "ec2",
        f"^(?!{_EC2_NON_MUTATING}|{_EC2_OWN_BUCKETS}$).*$",
        rate=5.0,
        burst=50,
        source=f"{_EC2_PAGE}: mutating and resource-intensive actions",
    ),
    *(
        AwsApiLimit(
            "ec2", f"^{operation}$", rate=rate, burst=burst, source=f"{_EC2_PAGE}: uncategorized actions"
        )
        for operation, (rate, burst) in _EC2_UNCATEGORIZED.items()
    ),
    AwsApiLimit("elbv2", f"^{_ELBV2_TARGETS}$", rate=4.0, burst=20, source=_ELBV2_SOURCE),
    AwsApiLimit("elbv2", "^Describe.*$", rate=50.0, burst=200, source=_ELBV2_SOURCE),
    AwsApiLimit("elbv2", "^Modify.*$", rate=3.0, burst=20, source=_ELBV2_SOURCE),
    AwsApiLimit(
        "elbv2",
        f"^(?!{_ELBV2_TARGETS}$|Describe|Modify).*$",
        rate=10.0,
        burst=40,
        source=_ELBV2_OTHER_SOURCE,
    ),
)


def aws_limit_for(service: str, operation: str) -> AwsApiLimit | None:
    """The one limit AWS applies to ``operation`` (the table's patterns never overlap)."""
    for limit in AWS_API_LIMITS:
        if limit.service == service and re.fullmatch(limit.pattern, operation):
            return limit
    return None
