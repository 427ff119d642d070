"""EC2 behaviour moto 5.2.5 gets wrong, checked by the proxy before it forwards a request.

* Gap 1: DeleteSecurityGroup succeeds in moto while the group is still in use. AWS answers
  ``DependencyViolation`` when another group's rule references it (ingress or egress), or a
  network interface, a running instance or a load balancer uses it.
* Gap 2: moto includes the Description when it detects duplicate UserIdGroupPairs. AWS treats
  (group, protocol, ports) as the rule's identity, so a second pair that differs only in its
  Description is ``InvalidPermission.Duplicate``.
* Gap 3: an Authorize naming a source group that does not exist fails in moto only when it reaches
  that pair, after the permissions before it were already added. AWS applies a request entirely or
  not at all: it answers ``InvalidGroup.NotFound`` ("The security group 'sg-...' does not exist",
  naming the missing source) and adds nothing.
* Gap 4: moto keeps a rule's CIDR as written. AWS canonicalises IPv4 and IPv6 CIDRs (host bits
  cleared: ``192.168.1.1/16`` is stored, described, de-duplicated and revoked as ``192.168.0.0/16``),
  so the proxy rewrites the CIDRs of Authorize/Revoke requests to that form before moto sees them.
* Gap 5: moto has no rules-per-security-group quota. AWS refuses an Authorize that would take the
  SG's inbound (or outbound) rules past it with ``RulesPerSecurityGroupLimitExceeded`` and adds
  nothing. AWS counts every CIDR, referenced SG and prefix list as one rule, IPv4 and IPv6
  separately, an SG or prefix list on both sides (default quota: 60).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig

from controller.aws.session import new_session

_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
_PERMISSION_KEY = re.compile(r"^IpPermissions\.(\d+)\.(.+)$")
_GROUP_PAIR_KEY = re.compile(r"^Groups\.(\d+)\.GroupId$")
_SOURCE_KEY = re.compile(
    r"^(IpRanges\.\d+\.CidrIp|Ipv6Ranges\.\d+\.CidrIpv6|Groups\.\d+\.GroupId|PrefixListIds\.\d+\.PrefixListId)$"
)
RULES_PER_SG_LIMIT_EXCEEDED = "RulesPerSecurityGroupLimitExceeded"
RULES_PER_SG_LIMIT_MESSAGE = "The maximum number of rules per security group has been reached."
DEFAULT_RULES_PER_SECURITY_GROUP = 60
_CIDR_KEY = re.compile(
    r"^(?:IpPermissions\.\d+\.(?:IpRanges\.\d+\.CidrIp|Ipv6Ranges\.\d+\.CidrIpv6)|CidrIp)$"
)
CIDR_CANONICALISING_OPERATIONS = frozenset(
    {
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
    }
)


@dataclass(frozen=True)
class RuleViolation:
    """Why the proxy answers an error instead of forwarding."""

    code: str
    message: str
    status: int = 400
    outcome: str = ""
    """The request log's outcome; empty: derived from ``code``."""


@dataclass(frozen=True)
class PortSpec:
    protocol: str
    from_port: int | None
    to_port: int | None

    @classmethod
    def of(cls, protocol: str, from_port: Any, to_port: Any) -> PortSpec:
        name = _PROTOCOL_NAMES.get(str(protocol).lower(), str(protocol).lower())
        if name == "-1":
            return cls("-1", None, None)
        return cls(
            name,
            int(from_port) if from_port not in (None, "") else None,
            int(to_port) if to_port not in (None, "") else None,
        )

    def describe(self) -> str:
        if self.protocol == "-1":
            return "ALL"
        return f"{self.protocol.upper()}, from port: {self.from_port}, to port: {self.to_port}"


class MotoBackend:
    """aiobotocore clients straight to moto (bypassing the proxy), one pair per region and access key.

    moto keeps state per account and region; using the caller's region and access key makes the
    proxy's checks see exactly what the caller's request will act on.
    """

    def __init__(self, moto_url: str) -> None:
        self._moto_url = moto_url
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._config = AioConfig(
            connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 1}
        )

    async def client(self, service: str, region: str, access_key: str) -> Any:
        key = (service, region, access_key)
        found = self._clients.get(key)
        if found is None:
            found = await self._stack.enter_async_context(
                new_session().create_client(
                    service,
                    region_name=region,
                    endpoint_url=self._moto_url,
                    aws_access_key_id=access_key,
                    aws_secret_access_key="sandbox",
                    config=self._config,
                )
            )
            self._clients[key] = found
        return found

    async def close(self) -> None:
        await self._stack.aclose()
        self._clients.clear()


async def check_delete_security_group(
    backend: MotoBackend, region: str, access_key: str, params: Mapping[str, str]
) -> RuleViolation | None:
    """``DependencyViolation`` if the group to delete is still referenced or attached."""
    ec2 = await backend.client("ec2", region, access_key)
    group_id = params.get("GroupId")
    if not group_id:
        name = params.get("GroupName")
        if not name:
            return None
        found = await ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
        groups = found.get("SecurityGroups", [])
        if len(groups) != 1:
            return None  # let moto answer (not found / ambiguous)
        group_id = groups[0]["GroupId"]
    if await _group_in_use(backend, ec2, region, access_key, group_id):
        return RuleViolation("DependencyViolation", f"resource {group_id} has a dependent object")
    return None


async def _group_in_use(backend: MotoBackend, ec2: Any, region: str, access_key: str, group_id: str) -> bool:
    for filter_name in ("ip-permission.group-id", "egress.ip-permission.group-id"):
        referencing = await ec2.describe_security_groups(
            Filters=[{"Name": filter_name, "Values": [group_id]}]
        )
        # A group's rules that reference the group itself do not block its deletion.
        if any(g["GroupId"] != group_id for g in referencing.get("SecurityGroups", [])):
            return True
    enis = await ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])
    if await _live_interfaces(ec2, enis.get("NetworkInterfaces", [])):
        return True
    instances = await ec2.describe_instances(
        Filters=[
            {"Name": "instance.group-id", "Values": [group_id]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )
    if any(r.get("Instances") for r in instances.get("Reservations", [])):
        return True
    elbv2 = await backend.client("elbv2", region, access_key)
    marker: str | None = None
    while True:
        page = await elbv2.describe_load_balancers(**({"Marker": marker} if marker else {}))
        if any(group_id in lb.get("SecurityGroups", []) for lb in page.get("LoadBalancers", [])):
            return True
        next_marker = page.get("NextMarker")
        if not next_marker or next_marker == marker:
            return False
        marker = next_marker


async def _live_interfaces(ec2: Any, interfaces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interfaces that still exist in AWS terms. AWS deletes an instance's primary interface (and
    any with DeleteOnTermination) with the instance; moto keeps them attached to the terminated
    instance, with DeleteOnTermination=false even on the primary one."""
    doomed_by_instance: dict[str, list[dict[str, Any]]] = {}
    live: list[dict[str, Any]] = []
    for interface in interfaces:
        attachment = interface.get("Attachment") or {}
        deleted_with_instance = attachment.get("DeviceIndex") == 0 or attachment.get("DeleteOnTermination")
        if deleted_with_instance and attachment.get("InstanceId"):
            doomed_by_instance.setdefault(attachment["InstanceId"], []).append(interface)
        else:
            live.append(interface)
    if doomed_by_instance:
        found = await ec2.describe_instances(InstanceIds=list(doomed_by_instance))
        for reservation in found.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                if instance.get("State", {}).get("Name") not in ("shutting-down", "terminated"):
                    live.extend(doomed_by_instance.get(instance["InstanceId"], []))
    return live


def canonical_cidr_params(params: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """The request's parameters with every rule CIDR in AWS's canonical form, or None if none changed.

    A value that is not a CIDR is left for moto to reject, as AWS would.
    """
    changed = False
    result: list[tuple[str, str]] = []
    for key, value in params:
        if _CIDR_KEY.match(key):
            try:
                canonical = str(ipaddress.ip_network(value, strict=False))
            except ValueError:
                canonical = value
            changed = changed or canonical != value
            value = canonical
        result.append((key, value))
    return result if changed else None


def requested_group_pairs(params: Mapping[str, str]) -> list[tuple[PortSpec, str]]:
    """(ports, referenced group id) for every UserIdGroupPair in an Authorize request's form."""
    permissions: dict[str, dict[str, str]] = {}
    for key, value in params.items():
        match = _PERMISSION_KEY.match(key)
        if match:
            permissions.setdefault(match.group(1), {})[match.group(2)] = value
    pairs: list[tuple[PortSpec, str]] = []
    for fields in permissions.values():
        spec = PortSpec.of(fields.get("IpProtocol", ""), fields.get("FromPort"), fields.get("ToPort"))
        for sub_key, value in fields.items():
            if _GROUP_PAIR_KEY.match(sub_key):
                pairs.append((spec, value))
    return pairs


async def check_authorize_source_groups(
    backend: MotoBackend, region: str, access_key: str, params: Mapping[str, str]
) -> RuleViolation | None:
    """``InvalidGroup.NotFound`` naming the first requested source group that does not exist.

    A request whose own group is unknown is left to moto, which already answers it like AWS.
    """
    group_id = params.get("GroupId")
    peers = list(dict.fromkeys(peer for _, peer in requested_group_pairs(params)))
    if not peers or not group_id:
        return None
    ec2 = await backend.client("ec2", region, access_key)
    # A filter (not GroupIds) so that unknown ids are simply absent instead of failing the call.
    found = await ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id, *peers]}])
    existing = {str(g["GroupId"]) for g in found.get("SecurityGroups", [])}
    if group_id not in existing:
        return None
    missing = next((peer for peer in peers if peer not in existing), None)
    if missing is None:
        return None
    return RuleViolation("InvalidGroup.NotFound", f"The security group '{missing}' does not exist")


async def _inbound_or_outbound(
    backend: MotoBackend, region: str, access_key: str, group_id: str, *, egress: bool
) -> list[dict[str, Any]] | None:
    """The group's inbound (or outbound) permissions as moto holds them; None if moto cannot say."""
    ec2 = await backend.client("ec2", region, access_key)
    try:
        found = await ec2.describe_security_groups(GroupIds=[group_id])
    except Exception:
        return None  # unknown group etc.: moto gives the right error when we forward
    groups = found.get("SecurityGroups", [])
    if not groups:
        return None
    permissions: list[dict[str, Any]] = groups[0].get(
        "IpPermissionsEgress" if egress else "IpPermissions", []
    )
    return permissions


async def check_authorize_duplicate_pairs(
    backend: MotoBackend, region: str, access_key: str, params: Mapping[str, str], *, egress: bool
) -> RuleViolation | None:
    """``InvalidPermission.Duplicate`` if a requested group pair already exists, whatever its Description."""
    wanted = requested_group_pairs(params)
    group_id = params.get("GroupId")
    if not wanted or not group_id:
        return None
    permissions = await _inbound_or_outbound(backend, region, access_key, group_id, egress=egress)
    if permissions is None:
        return None
    existing: set[tuple[PortSpec, str]] = set()
    for permission in permissions:
        spec = PortSpec.of(
            permission.get("IpProtocol", ""), permission.get("FromPort"), permission.get("ToPort")
        )
        for pair in permission.get("UserIdGroupPairs", []):
            existing.add((spec, pair.get("GroupId", "")))
    for spec, peer in wanted:
        if (spec, peer) in existing:
            return RuleViolation(
                "InvalidPermission.Duplicate",
                f'the specified rule "peer: {peer}, {spec.describe()}, ALLOW" already exists',
            )
    return None


def _family(source_kind: str) -> str:
    """``ipv4``/``ipv6`` for a CIDR; ``both`` for an SG or prefix list (counted on either side)."""
    if source_kind.startswith("IpRanges"):
        return "ipv4"
    if source_kind.startswith("Ipv6Ranges"):
        return "ipv6"
    return "both"


def _rules_used(entries: set[tuple[PortSpec, str, str]]) -> int:
    counts = {"ipv4": 0, "ipv6": 0, "both": 0}
    for _, family, _ in entries:
        counts[family] += 1
    return max(counts["ipv4"], counts["ipv6"]) + counts["both"]


def requested_sources(params: Mapping[str, str]) -> set[tuple[PortSpec, str, str]]:
    """(ports, family, source) for every source entry of an Authorize request's form."""
    permissions: dict[str, dict[str, str]] = {}
    for key, value in params.items():
        match = _PERMISSION_KEY.match(key)
        if match:
            permissions.setdefault(match.group(1), {})[match.group(2)] = value
    entries: set[tuple[PortSpec, str, str]] = set()
    for fields in permissions.values():
        spec = PortSpec.of(fields.get("IpProtocol", ""), fields.get("FromPort"), fields.get("ToPort"))
        for sub_key, value in fields.items():
            match = _SOURCE_KEY.match(sub_key)
            if match:
                entries.add((spec, _family(sub_key), _canonical(value)))
    return entries


def _canonical(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return value


def existing_sources(permissions: list[dict[str, Any]]) -> set[tuple[PortSpec, str, str]]:
    entries: set[tuple[PortSpec, str, str]] = set()
    for permission in permissions:
        spec = PortSpec.of(
            permission.get("IpProtocol", ""), permission.get("FromPort"), permission.get("ToPort")
        )
        entries.update((spec, "ipv4", _canonical(r["CidrIp"])) for r in permission.get("IpRanges", []))
        entries.update((spec, "ipv6", _canonical(r["CidrIpv6"])) for r in permission.get("Ipv6Ranges", []))
        entries.update((spec, "both", p["GroupId"]) for p in permission.get("UserIdGroupPairs", []))
        entries.update((spec, "both", p["PrefixListId"]) for p in permission.get("PrefixListIds", []))
    return entries


async def check_authorize_rule_quota(
    backend: MotoBackend,
    region: str,
    access_key: str,
    params: Mapping[str, str],
    *,
    egress: bool,
    quota: int,
) -> RuleViolation | None:
    """``RulesPerSecurityGroupLimitExceeded`` if the rules after the request would exceed ``quota``."""
    wanted = requested_sources(params)
    group_id = params.get("GroupId")
    if not wanted or not group_id:
        return None
    permissions = await _inbound_or_outbound(backend, region, access_key, group_id, egress=egress)
    if permissions is None:
        return None
    existing = existing_sources(permissions)
    if _rules_used(existing | wanted) <= quota:
        return None
    return RuleViolation(RULES_PER_SG_LIMIT_EXCEEDED, RULES_PER_SG_LIMIT_MESSAGE, outcome="limit")
