"""Resolve a ``SubnetSelector`` to subnets: explicit ids/``Name`` tags, tag filters
(IngressClassParams ``subnets.tags``), or discovery by role tag.

Discovery follows upstream: subnets of the VPC carrying the scheme's role tag
(``kubernetes.io/role/elb`` or ``.../internal-elb``), or matching the tag filters; a subnet whose ``kubernetes.io/cluster/<ours>``
tag is neither ``owned`` nor ``shared`` is skipped, and so is one tagged only for other clusters;
one subnet per availability zone, preferring one tagged for our cluster, then the smallest id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from controller.aws import ec2_types
from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.deploy.errors import SubnetResolutionError
from controller.model.load_balancer import SubnetSelector
from controller.naming import TAG_NAME
from framework.clock import REAL_CLOCK, Clock

_CLUSTER_TAG_PREFIX: Final = "kubernetes.io/cluster/"
_CLUSTER_TAG_VALUES: Final = frozenset({"owned", "shared"})


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


DEFAULT_SNAPSHOT_MAX_AGE_S: Final = 10.0
"""How long one read of the VPC's subnets answers every resolution. Short: subnets and their tags
change rarely, but a user who tags a subnet and then creates an Ingress should not wait long; at a
cold start of thousands of LBs it still turns one DescribeSubnets per LB into a handful."""


class VpcSubnets:
    """Every subnet of one VPC, read with one paged DescribeSubnets and kept ``max_age`` seconds.

    Reads are serialised, so callers that arrive while one is on the wire take its answer instead
    of sending their own. A ``fresh`` caller only takes an answer read after it asked.
    """

    def __init__(
        self,
        api: AwsApi,
        vpc_id: str,
        *,
        clock: Clock | None = None,
        max_age: float = DEFAULT_SNAPSHOT_MAX_AGE_S,
    ) -> None:
        self._ec2 = Ec2(api)
        self._vpc_id = vpc_id
        self._clock = clock or REAL_CLOCK
        self._max_age = max_age
        # (when it was read, the number of the read, the subnets)
        self._snapshot: tuple[float, int, tuple[Subnet, ...]] | None = None
        self._reads_started = 0
        self._lock = asyncio.Lock()

    async def all(self, *, fresh: bool = False) -> tuple[Subnet, ...]:
        reads_before_asking = self._reads_started
        async with self._lock:
            if self._snapshot is not None:
                read_at, number, subnets = self._snapshot
                if number > reads_before_asking if fresh else self._clock.now() - read_at < self._max_age:
                    return subnets
            self._reads_started += 1
            number, read_at = self._reads_started, self._clock.now()
            described = await self._ec2.describe_subnets(filters={"vpc-id": [self._vpc_id]})
            subnets = tuple(map(Subnet.from_aws, described))
            self._snapshot = (read_at, number, subnets)
            return subnets

    def invalidate(self) -> None:
        """The next resolution reads AWS (after a failed deploy: a subnet may be gone)."""
        self._snapshot = None


class SubnetResolver:
    """Resolves selectors against the VPC's subnets (``VpcSubnets``). A selector the snapshot
    cannot satisfy (an explicit subnet missing, nothing discovered) is tried once more against a
    fresh read before it fails: a subnet created or tagged a moment ago is found right away."""

    def __init__(self, api: AwsApi, vpc_id: str, *, subnets: VpcSubnets | None = None) -> None:
        self._vpc_id = vpc_id
        self.vpc_subnets = subnets if subnets is not None else VpcSubnets(api, vpc_id)

    async def resolve(self, selector: SubnetSelector) -> list[Subnet]:
        """The LB's subnets, sorted by id; raises ``SubnetResolutionError`` if there are none or
        an explicit entry did not resolve."""
        try:
            return self._select(selector, await self.vpc_subnets.all())
        except SubnetResolutionError:
            return self._select(selector, await self.vpc_subnets.all(fresh=True))

    def _select(self, selector: SubnetSelector, in_vpc: Sequence[Subnet]) -> list[Subnet]:
        if selector.is_explicit:
            subnets = _explicit(selector.names_or_ids, in_vpc)
        else:
            subnets = _discover(selector, in_vpc)
        if not subnets:
            if selector.tag_filters is not None:
                wanted = "; ".join(f"{key} in [{', '.join(values)}]" for key, values in selector.tag_filters)
                raise SubnetResolutionError(
                    f"unable to resolve at least one subnet (no subnet in {self._vpc_id} matches the "
                    f"IngressClassParams subnets.tags {{{wanted}}} and is usable by this cluster)"
                )
            raise SubnetResolutionError(
                f"unable to resolve at least one subnet (no subnet in {self._vpc_id} is tagged "
                f"{selector.role_tag_key} and usable by this cluster)"
            )
        return sorted(subnets, key=lambda s: s.subnet_id)


def _explicit(names_or_ids: Sequence[str], in_vpc: Sequence[Subnet]) -> list[Subnet]:
    ids = [entry for entry in names_or_ids if entry.startswith("subnet-")]
    names = [entry for entry in names_or_ids if not entry.startswith("subnet-")]
    found: dict[str, Subnet] = {}
    by_id = {s.subnet_id: s for s in in_vpc}
    missing_ids = [i for i in ids if i not in by_id]
    if missing_ids:
        raise SubnetResolutionError(f"couldn't find all subnets: missing ids [{', '.join(missing_ids)}]")
    found.update((i, by_id[i]) for i in ids)
    if names:
        by_name = [s for s in in_vpc if s.tags.get(TAG_NAME) in names]
        missing = [n for n in names if not any(s.tags.get(TAG_NAME) == n for s in by_name)]
        if missing:
            raise SubnetResolutionError(f"couldn't find all subnets: missing names [{', '.join(missing)}]")
        found.update((s.subnet_id, s) for s in by_name)
    return list(found.values())


def _selected(selector: SubnetSelector, subnet: Subnet) -> bool:
    """The role tag, or (IngressClassParams ``subnets.tags``) every filter key with one of its
    values, as EC2's ``tag:<key>`` filters select."""
    if selector.tag_filters is None:
        return selector.role_tag_key in subnet.tags
    return all(subnet.tags.get(key) in values for key, values in selector.tag_filters)


def _discover(selector: SubnetSelector, in_vpc: Sequence[Subnet]) -> list[Subnet]:
    by_zone: dict[str, Subnet] = {}
    for subnet in in_vpc:
        if not _selected(selector, subnet) or not _usable_by_cluster(subnet, selector.cluster_tag_key):
            continue
        current = by_zone.get(subnet.availability_zone)
        if current is None or _preference(subnet, selector) < _preference(current, selector):
            by_zone[subnet.availability_zone] = subnet
    return list(by_zone.values())


def _usable_by_cluster(subnet: Subnet, cluster_tag_key: str) -> bool:
    value = subnet.tags.get(cluster_tag_key)
    if value is not None:
        return value in _CLUSTER_TAG_VALUES
    # Tagged for other clusters only: theirs, not ours.
    return not any(key.startswith(_CLUSTER_TAG_PREFIX) for key in subnet.tags)


def _preference(subnet: Subnet, selector: SubnetSelector) -> tuple[int, str]:
    return (0 if selector.cluster_tag_key in subnet.tags else 1, subnet.subnet_id)
