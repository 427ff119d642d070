"""A TGB's contributions to endpoint SGs: resolve the SG behind each target, turn the TGB's
``spec.networking`` into the rules each of those SGs needs, and publish them.

Publishing only records this TGB's needs in the ``RuleOwnership``, which enqueues the SG ids whose
desired rules changed; the per-SG controller talks to EC2 (design.md Difference 3). On any error nothing
is published, so the TGB's previous contributions (and the rules on AWS) stay as they were.

Two problems are not such errors: a source SG that does not exist, and pods that lack a named port.
The contributions are published all the same (so the rule ownership knows what this TGB needs and can
revoke what nobody needs; the per-SG controller leaves the rules from a missing source out until it
exists, and a pod without the port simply needs no rule for it), and ``UnappliedRulesError`` tells
the reconciler to warn and look again later instead of reporting success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.aws.errors import AwsApiError
from controller.endpointsg.contributions import (
    NetworkingSpecError,
    contributions_for_node_targets,
    contributions_for_pod_targets,
    pods_missing_named_ports,
)
from controller.endpointsg.discovery import EndpointDiscoveryError, EndpointSGDiscovery, group_by_sg
from controller.endpointsg.eni_sg import EniSecurityGroupError
from controller.endpointsg.model import EndpointRule
from controller.endpointsg.ownership import RuleOwnership
from controller.targetgroupbinding.endpoints import NodeEndpoint, PodEndpoint
from controller.targetgroupbinding.model import Binding
from framework.informer import Store

_EXPECTED_ERRORS = (EndpointDiscoveryError, EniSecurityGroupError, NetworkingSpecError, AwsApiError)


SOURCE_GROUP_FIELD = "spec.networking.ingress[].from[].securityGroup.groupID"


class ContributionError(Exception):
    """This TGB's contributions could not be computed; the message is for a Warning event."""


MAX_PODS_NAMED = 10
"""Pods listed by name in one warning (a Warning's note is limited to 1 KiB)."""


class UnappliedRulesError(ContributionError):
    """The contributions were published, but some of the rules the spec asks for cannot be applied."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def missing_sources_problem(missing: frozenset[str]) -> str:
    return (
        f"{SOURCE_GROUP_FIELD}: security group(s) [{' '.join(sorted(missing))}] do not exist; "
        "their rules are not applied until they do"
    )


def missing_named_port_problem(port: str, pod_keys: Sequence[str]) -> str:
    """Upstream's "unable to find port <name> on pod <key>", for every such pod at once."""
    shown = " ".join(pod_keys[:MAX_PODS_NAMED])
    more = f" and {len(pod_keys) - MAX_PODS_NAMED} more" if len(pod_keys) > MAX_PODS_NAMED else ""
    return f"unable to find port {port} on pods [{shown}]{more}: no rule opens it to them"


def source_group_ids(networking: Mapping[str, Any]) -> frozenset[str]:
    """Every ``securityGroup.groupID`` named as a source in ``spec.networking``."""
    return frozenset(
        str(group)
        for ingress in networking.get("ingress") or ()
        for peer in ingress.get("from") or ()
        if (group := (peer.get("securityGroup") or {}).get("groupID"))
    )


class ContributionPublisher:
    """Publishes one binding's contributions (per endpoint SG) to the ``RuleOwnership``, or withdraws them."""

    def __init__(self, discovery: EndpointSGDiscovery, ownership: RuleOwnership) -> None:
        self._discovery = discovery
        self._ownership = ownership

    def withdraw(self, tgb_key: str) -> frozenset[str]:
        """The TGB needs no rule any more (deleted, networking removed, backend gone)."""
        return self._ownership.withdraw(tgb_key)

    async def publish_node_targets(
        self, binding: Binding, endpoints: Sequence[NodeEndpoint]
    ) -> frozenset[str]:
        """Instance targets: the same rules on every node SG. Returns the SG ids enqueued."""
        if binding.networking is None:
            # Nothing to publish: when networking is removed from a TGB, the handlers push the new
            # set of TGBs with networking and the rule ownership drops this one's contributions.
            return frozenset()
        try:
            nodes = [endpoint.node for endpoint in endpoints]
            sg_by_node = await self._discovery.sgs_for_nodes(nodes) if nodes else {}
            contributions = contributions_for_node_targets(binding.networking, sg_by_node.values())
        except _EXPECTED_ERRORS as error:
            raise ContributionError(str(error)) from error
        return await self._publish(binding.key, binding.networking, contributions)

    async def publish_pod_targets(
        self, binding: Binding, endpoints: Sequence[PodEndpoint], pods: Store, nodes: Store
    ) -> frozenset[str]:
        """IP targets: per pod ENI SG, the rules its pods need. Returns the SG ids enqueued.

        Endpoints whose Pod is not (yet) in the cache are left out; the Pod's arrival re-enqueues
        the TGB through the Pod handler.
        """
        if binding.networking is None:
            # Nothing to publish: when networking is removed from a TGB, the handlers push the new
            # set of TGBs with networking and the rule ownership drops this one's contributions.
            return frozenset()
        backing: dict[str, Mapping[str, Any]] = {}
        for endpoint in endpoints:
            if endpoint.pod_key is None or endpoint.pod_key in backing:
                continue
            cached = pods.get(endpoint.pod_key)
            if cached is not None:
                backing[endpoint.pod_key] = cached
        nodes_by_name: dict[str, Mapping[str, Any]] = {}
        for pod in backing.values():
            node_name = str((pod.get("spec") or {}).get("nodeName") or "")
            node = nodes.get(node_name) if node_name else None
            if node is not None:
                nodes_by_name[node_name] = node
        try:
            sg_by_pod = (
                await self._discovery.sgs_for_pods(list(backing.values()), nodes_by_name) if backing else {}
            )
            pods_by_sg = {sg: [backing[key] for key in keys] for sg, keys in group_by_sg(sg_by_pod).items()}
            contributions = contributions_for_pod_targets(binding.networking, pods_by_sg)
        except _EXPECTED_ERRORS as error:
            raise ContributionError(str(error)) from error
        resolved = [pod for sg_pods in pods_by_sg.values() for pod in sg_pods]
        problems = [
            missing_named_port_problem(port, keys)
            for port, keys in pods_missing_named_ports(binding.networking, resolved).items()
        ]
        return await self._publish(binding.key, binding.networking, contributions, problems)

    async def _publish(
        self,
        tgb_key: str,
        networking: Mapping[str, Any],
        contributions: Mapping[str, frozenset[EndpointRule]],
        problems: Sequence[str] = (),
    ) -> frozenset[str]:
        """Publish, then raise ``UnappliedRulesError`` naming ``problems`` and the missing sources."""
        enqueued = self._ownership.publish(tgb_key, contributions)
        # No endpoint (so no rule) needs no source: nothing to warn about.
        needed = source_group_ids(networking) if contributions else frozenset()
        try:
            missing = await self._discovery.missing_security_groups(needed)
        except AwsApiError as error:
            raise ContributionError(str(error)) from error
        found = [missing_sources_problem(missing)] if missing else []
        if found or problems:
            raise UnappliedRulesError([*found, *problems])
        return enqueued
