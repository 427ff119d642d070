"""The single-source SG rule model, and its translation from and to AWS ``IpPermissions``.

AWS groups an ingress permission's sources (``IpRanges``, ``Ipv6Ranges``, ``PrefixListIds``,
``UserIdGroupPairs``) under one protocol/port range, but it stores, deduplicates and counts rules
one source at a time. We compare rules the same way: a ``Rule`` has exactly one source, and its
identity (``==``/``hash``) is protocol + ports + source, never the description, so a rule that
differs only by description is "already there" (upstream-behaviour §1.7, §4.6). A CIDR source compares in
the canonical form AWS stores, whatever text it was written in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from controller.aws.ec2_types import GroupPair, IpPermission, IpRange, PrefixListEntry

ALL_PROTOCOLS: Final = "-1"

# AWS accepts these numbers for the named protocols and answers with the names; normalising keeps
# a desired "6" equal to an existing "tcp".
_PROTOCOL_NAMES: Final = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": ALL_PROTOCOLS}
# Only for these protocols do FromPort/ToPort mean something; for every other protocol AWS drops them.
_PORTED_PROTOCOLS: Final = frozenset({"tcp", "udp", "icmp", "icmpv6"})


def normalize_protocol(protocol: str) -> str:
    """Lowercase, map the numeric spellings of tcp/udp/icmp/icmpv6 and ``all`` to AWS's canonical names."""
    lowered = protocol.strip().lower()
    return _PROTOCOL_NAMES.get(lowered, lowered)


def canonical_cidr(cidr: str) -> str:
    """The CIDR as AWS stores it: host bits cleared, IPv6 compressed in lower case.

    AWS canonicalises every rule CIDR it is given: ``192.168.1.1/16`` is stored, described and
    de-duplicated as ``192.168.0.0/16``. Text that is not a CIDR is returned unchanged.
    """
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError:
        return cidr


@dataclass(frozen=True, order=True)
class Ipv4CidrSource:
    """Identity is the canonical network (what AWS keeps), so ``192.168.1.1/16`` written by a user
    equals the ``192.168.0.0/16`` AWS describes and no pass re-adds or revokes it; ``cidr`` is the
    text as given or as AWS reported it, and is what requests send."""

    cidr: str = field(compare=False)
    network: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", canonical_cidr(self.cidr))


@dataclass(frozen=True, order=True)
class Ipv6CidrSource:
    """As ``Ipv4CidrSource``: identity is the canonical network, ``cidr`` the text sent."""

    cidr: str = field(compare=False)
    network: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", canonical_cidr(self.cidr))


@dataclass(frozen=True, order=True)
class PrefixListSource:
    prefix_list_id: str


@dataclass(frozen=True, order=True)
class SecurityGroupSource:
    group_id: str
    # AWS adds the owning account to every pair it describes; it is not part of the identity, but
    # a revoke sends it back exactly as AWS reported it.
    user_id: str | None = field(default=None, compare=False)


RuleSource = Ipv4CidrSource | Ipv6CidrSource | PrefixListSource | SecurityGroupSource


def _source_sort_key(source: RuleSource) -> tuple[int, str]:
    match source:
        case Ipv4CidrSource(cidr=cidr):
            return (0, cidr)
        case Ipv6CidrSource(cidr=cidr):
            return (1, cidr)
        case PrefixListSource(prefix_list_id=pl):
            return (2, pl)
        case SecurityGroupSource(group_id=gid):
            return (3, gid)


@dataclass(frozen=True)
class Rule:
    """One inbound rule with exactly one source; equality and hash ignore ``description``.

    Construct with ``Rule.of(...)`` to get the protocol and ports normalised; the plain constructor
    trusts its arguments (it is what ``expand_ip_permissions`` produces after normalising).
    """

    protocol: str
    from_port: int | None
    to_port: int | None
    source: RuleSource
    description: str = field(default="", compare=False)

    @classmethod
    def of(
        cls,
        protocol: str,
        from_port: int | None,
        to_port: int | None,
        source: RuleSource,
        description: str = "",
    ) -> Rule:
        proto = normalize_protocol(protocol)
        if proto in _PORTED_PROTOCOLS:
            # Upstream counts absent ports as 0 in a rule's identity.
            return cls(proto, from_port or 0, to_port or 0, source, description)
        # "-1" and port-less protocols (esp, gre, ...): AWS ignores and never reports ports.
        return cls(proto, None, None, source, description)

    def with_description(self, description: str) -> Rule:
        return Rule(self.protocol, self.from_port, self.to_port, self.source, description)

    def sort_key(self) -> tuple[str, int, int, int, str, str]:
        kind, value = _source_sort_key(self.source)
        return (
            self.protocol,
            -1 if self.from_port is None else self.from_port,
            -1 if self.to_port is None else self.to_port,
            kind,
            value,
            self.description,
        )

    def __str__(self) -> str:
        ports = "" if self.from_port is None else f" {self.from_port}-{self.to_port}"
        kind, value = _source_sort_key(self.source)
        what = ("cidr", "cidr6", "prefix-list", "sg")[kind]
        desc = f" ({self.description!r})" if self.description else ""
        return f"{self.protocol}{ports} from {what} {value}{desc}"


def expand_ip_permissions(permissions: Iterable[IpPermission]) -> list[Rule]:
    """Split ``IpPermissions`` into single-source rules, keeping each source's description."""
    rules: list[Rule] = []
    for permission in permissions:
        sources: list[tuple[RuleSource, str]] = [
            *((Ipv4CidrSource(r.cidr), r.description) for r in permission.ipv4_ranges),
            *((Ipv6CidrSource(r.cidr), r.description) for r in permission.ipv6_ranges),
            *((PrefixListSource(p.prefix_list_id), p.description) for p in permission.prefix_lists),
            *((SecurityGroupSource(p.group_id, p.user_id), p.description) for p in permission.group_pairs),
        ]
        rules.extend(
            Rule.of(permission.protocol, permission.from_port, permission.to_port, source, description)
            for source, description in sources
        )
    return rules


def _permission(
    protocol: str, from_port: int | None, to_port: int | None, members: list[Rule]
) -> IpPermission:
    ipv4: list[IpRange] = []
    ipv6: list[IpRange] = []
    prefix_lists: list[PrefixListEntry] = []
    pairs: list[GroupPair] = []
    for member in sorted(members, key=Rule.sort_key):
        match member.source:
            case Ipv4CidrSource(cidr=cidr):
                ipv4.append(IpRange(cidr, member.description))
            case Ipv6CidrSource(cidr=cidr):
                ipv6.append(IpRange(cidr, member.description))
            case PrefixListSource(prefix_list_id=pl):
                prefix_lists.append(PrefixListEntry(pl, member.description))
            case SecurityGroupSource(group_id=gid, user_id=uid):
                pairs.append(GroupPair(gid, uid, member.description))
    return IpPermission(
        protocol, from_port, to_port, tuple(ipv4), tuple(ipv6), tuple(prefix_lists), tuple(pairs)
    )


def group_rules(rules: Iterable[Rule]) -> list[IpPermission]:
    """Pack rules into the fewest ``IpPermissions``: one per (protocol, FromPort, ToPort).

    The output is deterministic (sorted), so identical inputs produce identical API requests.
    """
    by_ports: dict[tuple[str, int | None, int | None], list[Rule]] = {}
    for rule in rules:
        by_ports.setdefault((rule.protocol, rule.from_port, rule.to_port), []).append(rule)
    return [
        _permission(protocol, from_port, to_port, members)
        for (protocol, from_port, to_port), members in sorted(
            by_ports.items(), key=lambda item: item[1][0].sort_key()[:3]
        )
    ]


def dedupe_rules(rules: Iterable[Rule]) -> list[Rule]:
    """Drop rules whose identity was already seen, keeping the first occurrence (and its description)."""
    seen: set[Rule] = set()
    unique: list[Rule] = []
    for rule in rules:
        if rule not in seen:
            seen.add(rule)
            unique.append(rule)
    return unique
