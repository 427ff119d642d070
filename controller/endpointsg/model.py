"""Value types for rules on endpoint (node / pod ENI) security groups.

A *contribution* is one need of one TargetGroupBinding on one endpoint SG: a protocol, a port range
and one source. The desired rules of an SG are the packed union of all live contributions; both
use the same shape (``EndpointRule``), so a rule that is needed as-is is simply passed through.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MIN_PORT = 0
MAX_PORT = 65535


class SourceKind(StrEnum):
    """What kind of peer a rule admits traffic from."""

    SECURITY_GROUP = "sg"
    IPV4_CIDR = "ipv4"
    IPV6_CIDR = "ipv6"
    PREFIX_LIST = "prefix-list"


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive port range; ``ALL_PORTS`` is what an unset port means."""

    from_port: int
    to_port: int

    def __post_init__(self) -> None:
        if not MIN_PORT <= self.from_port <= self.to_port <= MAX_PORT:
            raise ValueError(f"invalid port range {self.from_port}-{self.to_port}")

    @classmethod
    def single(cls, port: int) -> PortRange:
        return cls(port, port)

    @property
    def size(self) -> int:
        return self.to_port - self.from_port + 1

    def covers(self, other: PortRange) -> bool:
        return self.from_port <= other.from_port and other.to_port <= self.to_port

    def __str__(self) -> str:
        return f"{self.from_port}-{self.to_port}"


ALL_PORTS = PortRange(MIN_PORT, MAX_PORT)


@dataclass(frozen=True, order=True)
class Source:
    """One peer: an SG id, an IPv4/IPv6 CIDR or a managed prefix list id."""

    kind: SourceKind
    value: str

    @classmethod
    def security_group(cls, group_id: str) -> Source:
        return cls(SourceKind.SECURITY_GROUP, group_id)

    @property
    def is_cidr(self) -> bool:
        return self.kind in (SourceKind.IPV4_CIDR, SourceKind.IPV6_CIDR)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.value}"


@dataclass(frozen=True, order=True)
class EndpointRule:
    """One inbound rule on an endpoint SG (or one contribution to it): protocol, ports, one source.

    ``protocol`` is the AWS ``IpProtocol`` in lower case (``tcp``, ``udp``).
    """

    protocol: str
    ports: PortRange
    source: Source

    def __str__(self) -> str:
        return f"{self.protocol} {self.ports} from {self.source}"


# One TGB's needs, per endpoint SG id.
ContributionsBySG = dict[str, frozenset[EndpointRule]]
