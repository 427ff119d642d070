"""Which VPC the cluster lives in: every security-group lookup is scoped to it.

Upstream reads it from the instance metadata service when ``--aws-vpc-id`` is absent. A controller
that may run off-node (or with IMDS hop limits) cannot rely on that, so we take ``--aws-vpc-id``,
or find the single VPC matching ``--aws-vpc-tags``, and refuse to start otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2


class VpcResolutionError(RuntimeError):
    """The VPC could not be determined unambiguously; the controller must not start."""


async def resolve_vpc_id(api: AwsApi, *, vpc_id: str, vpc_tags: Mapping[str, str]) -> str:
    """Return ``vpc_id`` after checking it exists, or the one VPC tagged with every ``vpc_tags``."""
    ec2 = Ec2(api)
    if vpc_id:
        if await ec2.describe_vpc(vpc_id) is None:
            raise VpcResolutionError(f"VPC {vpc_id} (--aws-vpc-id) does not exist")
        return vpc_id
    if not vpc_tags:
        raise VpcResolutionError("the cluster VPC is unknown: set --aws-vpc-id or --aws-vpc-tags")
    vpcs = await ec2.describe_vpcs(filters={f"tag:{key}": [value] for key, value in sorted(vpc_tags.items())})
    ids = sorted(vpc.vpc_id for vpc in vpcs)
    if len(ids) != 1:
        raise VpcResolutionError(
            f"expected exactly one VPC tagged {dict(vpc_tags)} (--aws-vpc-tags), found {len(ids)}: {ids}"
        )
    return ids[0]
