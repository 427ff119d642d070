"""How many inbound rules an SG uses against AWS's rules-per-security-group quota.

AWS counts the quota per source entry, not per ``IpPermission``: every CIDR, every referenced SG and
every prefix list is one rule. It counts IPv4 and IPv6 separately (an SG may hold ``quota`` IPv4 and
``quota`` IPv6 rules), and a rule whose source is an SG or a prefix list counts on both sides. So the
rules an SG uses are ``max(IPv4 CIDRs, IPv6 CIDRs) + SG sources + prefix lists``, and a change fits
when that number stays at or below the quota (``--sg-rules-quota``; AWS's default is 60).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, Rule


@dataclass(frozen=True)
class RuleCount:
    """An SG's inbound rules by how AWS counts them."""

    ipv4: int = 0
    ipv6: int = 0
    both: int = 0
    """Rules from an SG or a prefix list: they count as an IPv4 and as an IPv6 rule."""

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> RuleCount:
        ipv4 = ipv6 = both = 0
        for rule in set(rules):  # AWS stores a rule once, whatever its description
            match rule.source:
                case Ipv4CidrSource():
                    ipv4 += 1
                case Ipv6CidrSource():
                    ipv6 += 1
                case _:
                    both += 1
        return cls(ipv4, ipv6, both)

    def __add__(self, other: RuleCount) -> RuleCount:
        return RuleCount(self.ipv4 + other.ipv4, self.ipv6 + other.ipv6, self.both + other.both)

    @property
    def used(self) -> int:
        """The rules used against the quota (the fuller of the IPv4 and IPv6 sides)."""
        return max(self.ipv4, self.ipv6) + self.both


def rules_used(rules: Iterable[Rule]) -> int:
    """Inbound rules ``rules`` use against the quota, counted as AWS counts them."""
    return RuleCount.of(rules).used
