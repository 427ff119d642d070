"""Which VPC the cluster lives in: every security-group lookup is scoped to it.

Upstream reads it from the instance metadata service when ``--aws-vpc-id`` is absent. A controller
that may run off-node (or with IMDS hop limits) cannot rely on that, so we take ``--aws-vpc-id``,
or find the single VPC matching ``--aws-vpc-tags``, and refuse to start otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.aws.api import AwsApi


class VpcResolutionError(RuntimeError):
    """The VPC could not be determined unambiguously; the controller must not start."""


async def resolve_vpc_id(api: AwsApi, *, vpc_id: str, vpc_tags: Mapping[str, str]) -> str:
    """Return ``vpc_id`` after checking it exists, or the one VPC tagged with every ``vpc_tags``."""
    if vpc_id:
        found = await api.call("ec2", "DescribeVpcs", VpcIds=[vpc_id])
        if not found.get("Vpcs"):
            raise VpcResolutionError(f"VPC {vpc_id} (--aws-vpc-id) does not exist")
        return vpc_id
    if not vpc_tags:
        raise VpcResolutionError("the cluster VPC is unknown: set --aws-vpc-id or --aws-vpc-tags")
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(vpc_tags.items())]
    vpcs = await api.paginate("ec2", "DescribeVpcs", "Vpcs", Filters=filters)
    ids = sorted(str(vpc["VpcId"]) for vpc in vpcs)
    if len(ids) != 1:
        raise VpcResolutionError(
            f"expected exactly one VPC tagged {dict(vpc_tags)} (--aws-vpc-tags), found {len(ids)}: {ids}"
        )
    return ids[0]
