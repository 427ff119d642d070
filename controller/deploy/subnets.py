"""Resolve a ``SubnetSelector`` to subnets: explicit ids/``Name`` tags, or discovery by role tag.

Discovery follows upstream: subnets of the VPC carrying the scheme's role tag
(``kubernetes.io/role/elb`` or ``.../internal-elb``); a subnet whose ``kubernetes.io/cluster/<ours>``
tag is neither ``owned`` nor ``shared`` is skipped, and so is one tagged only for other clusters;
one subnet per availability zone, preferring one tagged for our cluster, then the smallest id.

What discovery reads (the VPC's subnets carrying the role tag) is shared for
``DISCOVERY_CACHE_SECONDS``: every load balancer of a scheme asks the same question, and at a cold
start of 1,000 stacks that was one DescribeSubnets per stack. Concurrent resolves join one read; a
failed read is not kept. Subnets and their tags change rarely, and a change is seen within a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from controller.aws import ec2_types
from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.errors import AwsApiError
from controller.deploy.errors import SubnetResolutionError
from controller.model.load_balancer import SubnetSelector
from controller.naming import TAG_NAME
from framework.clock import REAL_CLOCK, Clock

_CLUSTER_TAG_PREFIX: Final = "kubernetes.io/cluster/"
_CLUSTER_TAG_VALUES: Final = frozenset({"owned", "shared"})
DISCOVERY_CACHE_SECONDS: Final = 60.0


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    availability_zone: str
    ipv4_cidr: str | None
    ipv6_cidrs: tuple[str, ...]
    tags: Mapping[str, str]

    @classmethod
    def from_aws(cls, subnet: ec2_types.Subnet) -> Subnet:
        return cls(
            subnet_id=subnet.subnet_id,
            availability_zone=subnet.availability_zone,
            ipv4_cidr=subnet.cidr_block,
            ipv6_cidrs=tuple(a.cidr for a in subnet.ipv6_associations if a.associated),
            tags=subnet.tags,
        )


class SubnetResolver:
    def __init__(self, api: AwsApi, vpc_id: str, *, clock: Clock = REAL_CLOCK) -> None:
        self._ec2 = Ec2(api)
        self._vpc_id = vpc_id
        self._clock = clock
        # role tag key -> (when the read started, the read): see the module docstring.
        self._discovered: dict[str, tuple[float, asyncio.Task[list[ec2_types.Subnet]]]] = {}

    async def resolve(self, selector: SubnetSelector) -> list[Subnet]:
        """The LB's subnets, sorted by id; raises ``SubnetResolutionError`` if there are none or
        an explicit entry did not resolve."""
        if selector.is_explicit:
            subnets = await self._explicit(selector.names_or_ids)
        else:
            subnets = await self._discover(selector)
        if not subnets:
            raise SubnetResolutionError(
                f"unable to resolve at least one subnet (no subnet in {self._vpc_id} is tagged "
                f"{selector.role_tag_key} and usable by this cluster)"
            )
        return sorted(subnets, key=lambda s: s.subnet_id)

    async def _explicit(self, names_or_ids: Sequence[str]) -> list[Subnet]:
        ids = [entry for entry in names_or_ids if entry.startswith("subnet-")]
        names = [entry for entry in names_or_ids if not entry.startswith("subnet-")]
        found: dict[str, Subnet] = {}
        if ids:
            try:
                described = await self._ec2.describe_subnets(
                    filters={"subnet-id": ids, "vpc-id": [self._vpc_id]}
                )
            except AwsApiError as error:
                raise SubnetResolutionError(f"couldn't find all subnets: {error}") from error
            found.update((s.subnet_id, s) for s in map(Subnet.from_aws, described) if s.subnet_id in ids)
            missing = [i for i in ids if i not in found]
            if missing:
                raise SubnetResolutionError(f"couldn't find all subnets: missing ids [{', '.join(missing)}]")
        if names:
            described = await self._ec2.describe_subnets(
                filters={f"tag:{TAG_NAME}": names, "vpc-id": [self._vpc_id]}
            )
            by_name = list(map(Subnet.from_aws, described))
            missing = [n for n in names if not any(s.tags.get(TAG_NAME) == n for s in by_name)]
            if missing:
                raise SubnetResolutionError(
                    f"couldn't find all subnets: missing names [{', '.join(missing)}]"
                )
            found.update((s.subnet_id, s) for s in by_name)
        return list(found.values())

    async def _discover(self, selector: SubnetSelector) -> list[Subnet]:
        described = await self._role_tagged(selector.role_tag_key)
        by_zone: dict[str, Subnet] = {}
        for subnet in map(Subnet.from_aws, described):
            if not _usable_by_cluster(subnet, selector.cluster_tag_key):
                continue
            current = by_zone.get(subnet.availability_zone)
            if current is None or _preference(subnet, selector) < _preference(current, selector):
                by_zone[subnet.availability_zone] = subnet
        return list(by_zone.values())

    async def _role_tagged(self, role_tag_key: str) -> list[ec2_types.Subnet]:
        now = self._clock.now()
        cached = self._discovered.get(role_tag_key)
        if cached is None or now - cached[0] >= DISCOVERY_CACHE_SECONDS:
            read = asyncio.ensure_future(
                self._ec2.describe_subnets(filters={"vpc-id": [self._vpc_id], "tag-key": [role_tag_key]})
            )
            cached = self._discovered[role_tag_key] = (now, read)
        started, read = cached
        try:
            # Shielded: one caller cancelled must not cancel the read the others wait for.
            return list(await asyncio.shield(read))
        except BaseException:
            if self._discovered.get(role_tag_key) == (started, read) and read.done():
                del self._discovered[role_tag_key]  # a failed read is not kept
            raise


def _usable_by_cluster(subnet: Subnet, cluster_tag_key: str) -> bool:
    value = subnet.tags.get(cluster_tag_key)
    if value is not None:
        return value in _CLUSTER_TAG_VALUES
    # Tagged for other clusters only: theirs, not ours.
    return not any(key.startswith(_CLUSTER_TAG_PREFIX) for key in subnet.tags)


def _preference(subnet: Subnet, selector: SubnetSelector) -> tuple[int, str]:
    return (0 if selector.cluster_tag_key in subnet.tags else 1, subnet.subnet_id)
