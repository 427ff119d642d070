"""A TGB's rules on endpoint SGs: resolve the SG behind each target and publish the contributions.

Publishing only records this TGB's needs in the endpoint-SG registry, which enqueues the SG ids whose
desired rules changed; the per-SG controller talks to EC2 (DESIGN difference 3). On any error nothing
is published, so the TGB's previous contributions (and the rules on AWS) stay as they were.

A source SG that does not exist is not such an error: the contributions are published all the same
(so the registry knows what this TGB needs and can revoke what nobody needs), the per-SG controller
leaves the rules from that source out until it exists, and ``MissingSourceGroupsError`` tells the
reconciler to warn and look again later instead of reporting success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.aws.errors import AwsApiError
from controller.endpointsg.contributions import (
    NetworkingSpecError,
    contributions_for_node_targets,
    contributions_for_pod_targets,
)
from controller.endpointsg.discovery import EndpointDiscoveryError, EndpointSGDiscovery, group_by_sg
from controller.endpointsg.eni_sg import EniSecurityGroupError
from controller.endpointsg.model import EndpointRule
from controller.endpointsg.service import EndpointRuleService
from controller.targetgroupbinding.endpoints import NodeEndpoint, PodEndpoint
from controller.targetgroupbinding.model import Binding
from framework.informer import Store

_EXPECTED_ERRORS = (EndpointDiscoveryError, EniSecurityGroupError, NetworkingSpecError, AwsApiError)


SOURCE_GROUP_FIELD = "spec.networking.ingress[].from[].securityGroup.groupID"


class NetworkingError(Exception):
    """Endpoint SG rules could not be computed for this TGB; the message is for a Warning event."""


class MissingSourceGroupsError(NetworkingError):
    """Rules were published, but some source SGs do not exist, so their rules cannot be applied."""

    def __init__(self, missing: frozenset[str]) -> None:
        names = " ".join(sorted(missing))
        super().__init__(
            f"{SOURCE_GROUP_FIELD}: security group(s) [{names}] do not exist; "
            "their rules are not applied until they do"
        )
        self.missing = missing


def source_group_ids(networking: Mapping[str, Any]) -> frozenset[str]:
    """Every ``securityGroup.groupID`` named as a source in ``spec.networking``."""
    return frozenset(
        str(group)
        for ingress in networking.get("ingress") or ()
        for peer in ingress.get("from") or ()
        if (group := (peer.get("securityGroup") or {}).get("groupID"))
    )


class BindingNetworking:
    def __init__(self, discovery: EndpointSGDiscovery, rules: EndpointRuleService) -> None:
        self._discovery = discovery
        self._rules = rules

    def withdraw(self, tgb_key: str) -> frozenset[str]:
        """The TGB needs no rule any more (deleted, networking removed, backend gone)."""
        return self._rules.withdraw(tgb_key)

    async def reconcile_node_endpoints(
        self, binding: Binding, endpoints: Sequence[NodeEndpoint]
    ) -> frozenset[str]:
        """Instance targets: the same rules on every node SG. Returns the SG ids enqueued."""
        if binding.networking is None:
            # Nothing to publish: when networking is removed from a TGB, the handlers push the new
            # set of TGBs with networking and the registry drops this one's contributions.
            return frozenset()
        try:
            nodes = [endpoint.node for endpoint in endpoints]
            sg_by_node = await self._discovery.sgs_for_nodes(nodes) if nodes else {}
            contributions = contributions_for_node_targets(binding.networking, sg_by_node.values())
        except _EXPECTED_ERRORS as error:
            raise NetworkingError(str(error)) from error
        return await self._publish(binding.key, binding.networking, contributions)

    async def reconcile_pod_endpoints(
        self, binding: Binding, endpoints: Sequence[PodEndpoint], pods: Store, nodes: Store
    ) -> frozenset[str]:
        """IP targets: per pod ENI SG, the rules its pods need. Returns the SG ids enqueued.

        Endpoints whose Pod is not (yet) in the cache are left out; the Pod's arrival re-enqueues
        the TGB through the Pod handler.
        """
        if binding.networking is None:
            # Nothing to publish: when networking is removed from a TGB, the handlers push the new
            # set of TGBs with networking and the registry drops this one's contributions.
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
            raise NetworkingError(str(error)) from error
        return await self._publish(binding.key, binding.networking, contributions)

    async def _publish(
        self,
        tgb_key: str,
        networking: Mapping[str, Any],
        contributions: Mapping[str, frozenset[EndpointRule]],
    ) -> frozenset[str]:
        """Publish, then raise ``MissingSourceGroupsError`` if a needed source SG does not exist."""
        enqueued = self._rules.publish(tgb_key, contributions)
        # No endpoint (so no rule) needs no source: nothing to warn about.
        needed = source_group_ids(networking) if contributions else frozenset()
        try:
            missing = await self._discovery.missing_security_groups(needed)
        except AwsApiError as error:
            raise NetworkingError(str(error)) from error
        if missing:
            raise MissingSourceGroupsError(missing)
        return enqueued
