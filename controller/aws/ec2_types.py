"""Our own snake_case values for what the ``Ec2`` facade sends and returns.

Only the fields the controller reads are kept. Each type knows how to read itself from AWS's answer
and, for what we send, how to write itself back, so no AWS-cased key leaves ``controller.aws``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

ASSOCIATED: Final = "associated"

Filters = Mapping[str, Iterable[str]]
"""EC2 describe filters by name (``vpc-id``, ``tag:Name``, ``group-id``...), in the order sent."""


def filter_list(filters: Filters) -> list[dict[str, Any]]:
    return [{"Name": name, "Values": list(values)} for name, values in filters.items()]


def tag_map(tags: Iterable[Mapping[str, Any]] | None) -> Mapping[str, str]:
    """AWS's ``[{"Key", "Value"}]`` list as a read-only mapping (a missing value is ``""``)."""
    return MappingProxyType({str(t["Key"]): str(t.get("Value", "")) for t in tags or ()})


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """The mapping as AWS's ``[{"Key", "Value"}]`` list, in the mapping's order."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


# ------------------------------------------------------------------------------------ IpPermissions


@dataclass(frozen=True)
class IpRange:
    cidr: str
    description: str = ""


@dataclass(frozen=True)
class PrefixListEntry:
    prefix_list_id: str
    description: str = ""


@dataclass(frozen=True)
class GroupPair:
    group_id: str
    user_id: str | None = None
    """The owning account AWS reports with every pair; a revoke sends it back as reported."""
    description: str = ""


@dataclass(frozen=True)
class IpPermission:
    """One ``IpPermissions`` entry: a protocol and port range with its sources.

    Descriptions and user ids are kept exactly as AWS reported them, so a revoke built from a
    described permission names the rule exactly.
    """

    protocol: str
    from_port: int | None = None
    to_port: int | None = None
    ipv4_ranges: tuple[IpRange, ...] = ()
    ipv6_ranges: tuple[IpRange, ...] = ()
    prefix_lists: tuple[PrefixListEntry, ...] = ()
    group_pairs: tuple[GroupPair, ...] = ()

    @classmethod
    def from_aws(cls, permission: Mapping[str, Any]) -> IpPermission:
        def described(entry: Mapping[str, Any]) -> str:
            return str(entry.get("Description") or "")

        return cls(
            protocol=str(permission["IpProtocol"]),
            from_port=permission.get("FromPort"),
            to_port=permission.get("ToPort"),
            ipv4_ranges=tuple(
                IpRange(str(r["CidrIp"]), described(r)) for r in permission.get("IpRanges") or ()
            ),
            ipv6_ranges=tuple(
                IpRange(str(r["CidrIpv6"]), described(r)) for r in permission.get("Ipv6Ranges") or ()
            ),
            prefix_lists=tuple(
                PrefixListEntry(str(r["PrefixListId"]), described(r))
                for r in permission.get("PrefixListIds") or ()
            ),
            group_pairs=tuple(
                GroupPair(str(p["GroupId"]), p.get("UserId"), described(p))
                for p in permission.get("UserIdGroupPairs") or ()
            ),
        )

    def to_aws(self) -> dict[str, Any]:
        """Ports only when set, source lists only when not empty, descriptions and user ids only
        when not empty: the request names exactly what this value holds."""
        permission: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.from_port is not None:
            permission["FromPort"] = self.from_port
            permission["ToPort"] = self.to_port
        sources: list[tuple[str, list[dict[str, str]]]] = [
            ("IpRanges", [_with_description({"CidrIp": r.cidr}, r.description) for r in self.ipv4_ranges]),
            (
                "Ipv6Ranges",
                [_with_description({"CidrIpv6": r.cidr}, r.description) for r in self.ipv6_ranges],
            ),
            (
                "PrefixListIds",
                [
                    _with_description({"PrefixListId": p.prefix_list_id}, p.description)
                    for p in self.prefix_lists
                ],
            ),
            ("UserIdGroupPairs", [_group_pair(p) for p in self.group_pairs]),
        ]
        permission.update((key, entries) for key, entries in sources if entries)
        return permission


def _with_description(entry: dict[str, str], description: str) -> dict[str, str]:
    if description:
        entry["Description"] = description
    return entry


def _group_pair(pair: GroupPair) -> dict[str, str]:
    entry = {"GroupId": pair.group_id}
    if pair.user_id:
        entry["UserId"] = pair.user_id
    return _with_description(entry, pair.description)


# ----------------------------------------------------------------------------------- described things


@dataclass(frozen=True)
class SecurityGroup:
    group_id: str
    group_name: str
    vpc_id: str | None
    description: str
    tags: Mapping[str, str] = field(hash=False)
    ip_permissions: tuple[IpPermission, ...]
    """The inbound rules, as AWS groups them."""

    @classmethod
    def from_aws(cls, group: Mapping[str, Any]) -> SecurityGroup:
        return cls(
            group_id=str(group["GroupId"]),
            group_name=str(group.get("GroupName", "")),
            vpc_id=group.get("VpcId"),
            description=str(group.get("Description", "")),
            tags=tag_map(group.get("Tags")),
            ip_permissions=tuple(IpPermission.from_aws(p) for p in group.get("IpPermissions") or ()),
        )


@dataclass(frozen=True)
class SecurityGroupRule:
    """One rule as DescribeSecurityGroupRules reports it: a single source, and the rule's own id
    (the only handle AWS accepts for a rule whose source SG no longer exists)."""

    rule_id: str
    group_id: str
    is_egress: bool
    protocol: str
    from_port: int | None
    to_port: int | None
    referenced_group_id: str | None
    cidr_ipv4: str | None
    cidr_ipv6: str | None
    prefix_list_id: str | None
    description: str

    @classmethod
    def from_aws(cls, rule: Mapping[str, Any]) -> SecurityGroupRule:
        from_port, to_port = rule.get("FromPort"), rule.get("ToPort")
        return cls(
            rule_id=str(rule["SecurityGroupRuleId"]),
            group_id=str(rule.get("GroupId", "")),
            is_egress=bool(rule.get("IsEgress")),
            protocol=str(rule.get("IpProtocol", "")),
            from_port=None if from_port is None else int(from_port),
            to_port=None if to_port is None else int(to_port),
            referenced_group_id=(rule.get("ReferencedGroupInfo") or {}).get("GroupId"),
            cidr_ipv4=rule.get("CidrIpv4"),
            cidr_ipv6=rule.get("CidrIpv6"),
            prefix_list_id=rule.get("PrefixListId"),
            description=str(rule.get("Description", "")),
        )


@dataclass(frozen=True)
class CidrBlockAssociation:
    cidr: str
    state: str = ASSOCIATED
    """AWS's association state; an answer without one counts as associated."""

    @property
    def associated(self) -> bool:
        return self.state == ASSOCIATED


def _associations(
    entries: Iterable[Mapping[str, Any]] | None, cidr_key: str, state_key: str
) -> tuple[CidrBlockAssociation, ...]:
    return tuple(
        CidrBlockAssociation(str(a[cidr_key]), str((a.get(state_key) or {}).get("State", ASSOCIATED)))
        for a in entries or ()
    )


@dataclass(frozen=True)
class Vpc:
    vpc_id: str
    cidr_block: str | None
    """The primary IPv4 CIDR."""
    ipv4_associations: tuple[CidrBlockAssociation, ...] = ()
    ipv6_associations: tuple[CidrBlockAssociation, ...] = ()

    @classmethod
    def from_aws(cls, vpc: Mapping[str, Any]) -> Vpc:
        return cls(
            vpc_id=str(vpc.get("VpcId", "")),
            cidr_block=vpc.get("CidrBlock") or None,
            ipv4_associations=_associations(
                vpc.get("CidrBlockAssociationSet"), "CidrBlock", "CidrBlockState"
            ),
            ipv6_associations=_associations(
                vpc.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock", "Ipv6CidrBlockState"
            ),
        )


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    availability_zone: str
    cidr_block: str | None
    ipv6_associations: tuple[CidrBlockAssociation, ...]
    tags: Mapping[str, str] = field(hash=False)

    @classmethod
    def from_aws(cls, subnet: Mapping[str, Any]) -> Subnet:
        return cls(
            subnet_id=str(subnet["SubnetId"]),
            availability_zone=str(subnet.get("AvailabilityZone", "")),
            cidr_block=subnet.get("CidrBlock"),
            ipv6_associations=_associations(
                subnet.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock", "Ipv6CidrBlockState"
            ),
            tags=tag_map(subnet.get("Tags")),
        )


@dataclass(frozen=True)
class NetworkInterface:
    network_interface_id: str
    group_ids: tuple[str, ...]
    device_index: int | None
    """From the attachment; ``None`` for an unattached ENI."""
    private_ip_addresses: tuple[str, ...]
    """The primary address first if AWS names it, then every listed private address."""
    ipv6_addresses: tuple[str, ...]
    ipv4_prefixes: tuple[str, ...]
    ipv6_prefixes: tuple[str, ...]

    @classmethod
    def from_aws(cls, eni: Mapping[str, Any]) -> NetworkInterface:
        private = [
            str(a["PrivateIpAddress"]) for a in eni.get("PrivateIpAddresses") or () if "PrivateIpAddress" in a
        ]
        if eni.get("PrivateIpAddress"):
            private.insert(0, str(eni["PrivateIpAddress"]))
        index = (eni.get("Attachment") or {}).get("DeviceIndex")
        return cls(
            network_interface_id=str(eni["NetworkInterfaceId"]),
            group_ids=tuple(str(g["GroupId"]) for g in eni.get("Groups") or ()),
            device_index=int(index) if index is not None else None,
            private_ip_addresses=tuple(private),
            ipv6_addresses=tuple(
                str(a["Ipv6Address"]) for a in eni.get("Ipv6Addresses") or () if "Ipv6Address" in a
            ),
            ipv4_prefixes=tuple(
                str(p["Ipv4Prefix"]) for p in eni.get("Ipv4Prefixes") or () if "Ipv4Prefix" in p
            ),
            ipv6_prefixes=tuple(
                str(p["Ipv6Prefix"]) for p in eni.get("Ipv6Prefixes") or () if "Ipv6Prefix" in p
            ),
        )


@dataclass(frozen=True)
class Instance:
    instance_id: str
    network_interfaces: tuple[NetworkInterface, ...]

    @classmethod
    def from_aws(cls, instance: Mapping[str, Any]) -> Instance:
        return cls(
            instance_id=str(instance.get("InstanceId", "")),
            network_interfaces=tuple(
                NetworkInterface.from_aws(e) for e in instance.get("NetworkInterfaces") or ()
            ),
        )
