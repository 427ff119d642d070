"""Find the endpoint SG behind each target: node → primary ENI, pod → its ENI (upstream-behaviour §4.3).

Inputs are plain dicts as the informer cache holds them. Results (the ENI of a node or pod) are
cached per object UID for ``ttl`` seconds, like upstream's 10-minute caches; the SG chosen for an ENI
is recomputed from cached SG tags so a re-tag takes effect within the same TTL.

AWS calls are batched: one DescribeInstances for all uncached nodes, one DescribeNetworkInterfaces
for all branch ENIs, Fargate IP lookups in chunks of 199 addresses (200 filter values minus the VPC
filter), SG tags through the shared ``SecurityGroupReader`` (batched, cached).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.ec2_types import NetworkInterface
from controller.endpointsg.eni_sg import EniSecurityGroupError, EniSGSelector
from controller.networking.sg_reader import SecurityGroupReader
from framework.clock import REAL_CLOCK, Clock
from framework.objects import annotations_of, labels_of, name_of, object_key, uid_of

POD_ENI_ANNOTATION = "vpc.amazonaws.com/pod-eni"
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
SAGEMAKER_COMPUTE_TYPE_LABEL = "sagemaker.amazonaws.com/compute-type"
FARGATE_IP_CHUNK = 199
DEFAULT_TTL_SECONDS = 600.0

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EndpointDiscoveryError(Exception):
    """Some targets' ENIs or SGs could not be determined; the message names them."""


@dataclass(frozen=True)
class EniInfo:
    """One ENI and what identifies traffic to it."""

    eni_id: str
    group_ids: tuple[str, ...]
    device_index: int | None = None
    addresses: frozenset[str] = frozenset()
    prefixes: tuple[IpNetwork, ...] = ()

    def holds(self, ip: str) -> bool:
        """Whether ``ip`` is one of this ENI's addresses or inside one of its prefixes.

        A pod IP comes from the pod's status, which we do not control: one that is not an IP
        address matches no ENI (the pod stays unresolved and is named as such), never an error.
        """
        if ip in self.addresses:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in prefix for prefix in self.prefixes)

    @classmethod
    def from_aws(cls, eni: NetworkInterface) -> EniInfo:
        prefixes = [ipaddress.ip_network(p) for p in (*eni.ipv4_prefixes, *eni.ipv6_prefixes)]
        return cls(
            eni_id=eni.network_interface_id,
            group_ids=eni.group_ids,
            device_index=eni.device_index,
            addresses=frozenset((*eni.private_ip_addresses, *eni.ipv6_addresses)),
            prefixes=tuple(prefixes),
        )


K = TypeVar("K")
V = TypeVar("V")


@dataclass
class _TtlCache(Generic[K, V]):
    clock: Clock
    ttl: float
    _entries: dict[K, tuple[float, V]] = field(default_factory=dict)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self.clock.now() - stored_at >= self.ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self.clock.now(), value)


def instance_id_from_provider_id(provider_id: str) -> str | None:
    """``aws:///us-west-2a/i-0abc`` → ``i-0abc``; None for anything that is not an EC2 instance."""
    if not provider_id.startswith("aws://"):
        return None
    last = provider_id.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("i-") else None


def _pod_ips(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p["ip"]) for p in status.get("podIPs") or () if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def _compute_type(node: Mapping[str, Any] | None) -> str:
    labels = labels_of(node or {})
    return str(labels.get(COMPUTE_TYPE_LABEL) or labels.get(SAGEMAKER_COMPUTE_TYPE_LABEL) or "ec2")


class EndpointSGDiscovery:
    """Resolves nodes and pods to their endpoint SG id."""

    def __init__(
        self,
        api: AwsApi,
        *,
        vpc_id: str,
        selector: EniSGSelector,
        reader: SecurityGroupReader,
        clock: Clock = REAL_CLOCK,
        ttl: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self._ec2 = Ec2(api)
        self._vpc_id = vpc_id
        self._selector = selector
        self._reader = reader
        self._node_enis: _TtlCache[str, tuple[EniInfo, ...]] = _TtlCache(clock, ttl)
        self._pod_eni: _TtlCache[str, EniInfo] = _TtlCache(clock, ttl)

    # ----------------------------------------------------------------------------- nodes

    async def sgs_for_nodes(self, nodes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """Node name → SG of its primary ENI (device index 0)."""
        enis_by_node = await self._enis_of_nodes(nodes)
        primary: dict[str, EniInfo] = {}
        unresolved: list[str] = []
        for node in nodes:
            name = name_of(node)
            eni = next((e for e in enis_by_node.get(name, ()) if e.device_index == 0), None)
            if eni is None:
                unresolved.append(name)
            else:
                primary[name] = eni
        if unresolved:
            raise EndpointDiscoveryError(
                f"cannot resolve node ENI for nodes: [{' '.join(sorted(unresolved))}]"
            )
        return await self._select_sgs(primary)

    async def _enis_of_nodes(self, nodes: Iterable[Mapping[str, Any]]) -> dict[str, tuple[EniInfo, ...]]:
        result: dict[str, tuple[EniInfo, ...]] = {}
        missing: dict[str, tuple[str, str]] = {}  # instance id -> (node name, uid)
        for node in nodes:
            name, uid = name_of(node), uid_of(node)
            cached = self._node_enis.get(uid)
            if cached is not None:
                result[name] = cached
                continue
            instance = instance_id_from_provider_id(str((node.get("spec") or {}).get("providerID", "")))
            if instance is not None:
                missing[instance] = (name, uid)
        if missing:
            for described in await self._ec2.describe_instances(sorted(missing)):
                owner = missing.get(described.instance_id)
                if owner is None:
                    continue
                enis = tuple(EniInfo.from_aws(e) for e in described.network_interfaces)
                self._node_enis.put(owner[1], enis)
                result[owner[0]] = enis
        return result

    # ----------------------------------------------------------------------------- pods

    async def sgs_for_pods(
        self, pods: Sequence[Mapping[str, Any]], nodes_by_name: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, str]:
        """``namespace/name`` of each pod → its endpoint SG. Pods on hybrid nodes are skipped."""
        eni_by_pod: dict[str, EniInfo] = {}
        branch: dict[str, tuple[str, str]] = {}  # pod key -> (uid, eni id)
        fargate: dict[str, tuple[str, str]] = {}  # pod IP -> (pod key, uid)
        on_ec2: list[tuple[str, str, list[str], Mapping[str, Any]]] = []
        for pod in pods:
            key, uid = object_key(pod), uid_of(pod)
            node = nodes_by_name.get(str((pod.get("spec") or {}).get("nodeName", "")))
            compute = _compute_type(node)
            if compute == "hybrid":
                continue
            cached = self._pod_eni.get(uid)
            if cached is not None:
                eni_by_pod[key] = cached
                continue
            ips = _pod_ips(pod)
            branch_eni = _branch_eni_for(pod, ips)
            if branch_eni is not None:
                branch[key] = (uid, branch_eni)
            elif compute == "fargate":
                fargate.update({ip: (key, uid) for ip in ips})
            elif node is not None:
                on_ec2.append((key, uid, ips, node))
        await self._resolve_branch_enis(branch, eni_by_pod)
        await self._resolve_fargate(fargate, eni_by_pod)
        await self._resolve_on_nodes(on_ec2, eni_by_pod)
        unresolved = sorted(
            object_key(p)
            for p in pods
            if object_key(p) not in eni_by_pod
            and _compute_type(nodes_by_name.get(str((p.get("spec") or {}).get("nodeName", "")))) != "hybrid"
        )
        if unresolved:
            raise EndpointDiscoveryError(f"cannot resolve pod ENI for pods: [{' '.join(unresolved)}]")
        return await self._select_sgs(eni_by_pod)

    async def _resolve_branch_enis(
        self, branch: Mapping[str, tuple[str, str]], out: dict[str, EniInfo]
    ) -> None:
        if not branch:
            return
        interfaces = await self._ec2.describe_network_interfaces(
            network_interface_ids=sorted({eni for _, eni in branch.values()})
        )
        by_id = {e.eni_id: e for e in (EniInfo.from_aws(i) for i in interfaces)}
        for key, (uid, eni_id) in branch.items():
            if eni_id in by_id:
                self._pod_eni.put(uid, by_id[eni_id])
                out[key] = by_id[eni_id]

    async def _resolve_fargate(self, by_ip: Mapping[str, tuple[str, str]], out: dict[str, EniInfo]) -> None:
        ips = sorted(by_ip)
        for start in range(0, len(ips), FARGATE_IP_CHUNK):
            chunk = ips[start : start + FARGATE_IP_CHUNK]
            interfaces = await self._ec2.describe_network_interfaces(
                filters={"vpc-id": [self._vpc_id], "addresses.private-ip-address": chunk}
            )
            for eni in (EniInfo.from_aws(i) for i in interfaces):
                for ip in chunk:
                    if ip in eni.addresses:
                        key, uid = by_ip[ip]
                        self._pod_eni.put(uid, eni)
                        out[key] = eni

    async def _resolve_on_nodes(
        self, pods: Sequence[tuple[str, str, list[str], Mapping[str, Any]]], out: dict[str, EniInfo]
    ) -> None:
        if not pods:
            return
        enis_by_node = await self._enis_of_nodes({id(n): n for *_, n in pods}.values())
        for key, uid, ips, node in pods:
            enis = enis_by_node.get(name_of(node), ())
            found = next((e for e in enis for ip in ips if e.holds(ip)), None)
            if found is not None:
                self._pod_eni.put(uid, found)
                out[key] = found

    # ----------------------------------------------------------------------------- source SGs

    async def missing_security_groups(self, group_ids: Iterable[str]) -> frozenset[str]:
        """Which of ``group_ids`` do not exist (say, a binding's source SGs).

        Through the shared reader: an SG that exists is cached, one that does not is asked for
        again next time, so its creation is noticed at the next check.
        """
        wanted = sorted(set(group_ids))
        if not wanted:
            return frozenset()
        found = await self._reader.get_many(wanted)
        return frozenset(wanted) - found.keys()

    # ----------------------------------------------------------------------------- SG choice

    async def _select_sgs(self, eni_by_target: Mapping[str, EniInfo]) -> dict[str, str]:
        multi = {sg for eni in eni_by_target.values() if len(eni.group_ids) > 1 for sg in eni.group_ids}
        tags = await self._tags_of(multi)
        result: dict[str, str] = {}
        errors: list[str] = []
        for target, eni in sorted(eni_by_target.items()):
            try:
                result[target] = self._selector.select(eni.eni_id, eni.group_ids, tags)
            except EniSecurityGroupError as exc:
                errors.append(str(exc))
        if errors:
            raise EniSecurityGroupError("; ".join(sorted(set(errors))))
        return result

    async def _tags_of(self, sg_ids: Iterable[str]) -> dict[str, Mapping[str, str]]:
        # The shared SG reader batches and caches describes across all callers; an SG that no
        # longer exists is simply absent (and so cannot be a candidate).
        infos = await self._reader.get_many(sorted(set(sg_ids)))
        return {sg: info.tags for sg, info in infos.items()}


def _branch_eni_for(pod: Mapping[str, Any], ips: Sequence[str]) -> str | None:
    """The SG-for-pods branch ENI from ``vpc.amazonaws.com/pod-eni`` whose address is the pod's."""
    raw = annotations_of(pod).get(POD_ENI_ANNOTATION)
    if not raw:
        return None
    try:
        entries = json.loads(raw)
    except ValueError:
        return None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and (entry.get("privateIp") in ips or entry.get("ipv6Addr") in ips):
            eni = entry.get("eniId")
            return str(eni) if eni else None
    return None


def group_by_sg(sg_by_target: Mapping[str, str]) -> dict[str, list[str]]:
    """Invert ``target → SG`` into ``SG → sorted targets``."""
    grouped: dict[str, list[str]] = {}
    for target, sg in sorted(sg_by_target.items()):
        grouped.setdefault(sg, []).append(target)
    return grouped
