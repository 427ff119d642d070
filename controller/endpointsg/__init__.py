"""Rules on endpoint (node / pod ENI) security groups: discovery, contributions, packing, per-SG reconcile."""

from controller.endpointsg.contributions import (
    NetworkingSpecError,
    contributions_for_node_targets,
    contributions_for_pod_targets,
)
from controller.endpointsg.discovery import EndpointDiscoveryError, EndpointSGDiscovery
from controller.endpointsg.eni_sg import EniSecurityGroupError, EniSGSelector
from controller.endpointsg.model import ALL_PORTS, EndpointRule, PortRange, Source, SourceKind
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.packing import pack_ranges, pack_rules
from controller.endpointsg.reconciler import EndpointSGOutcome, EndpointSGReconciler

__all__ = [
    "ALL_PORTS",
    "EndpointDiscoveryError",
    "EndpointRule",
    "EndpointSGDiscovery",
    "EndpointSGOutcome",
    "EndpointSGReconciler",
    "EniSGSelector",
    "EniSecurityGroupError",
    "NetworkingSpecError",
    "PortRange",
    "RuleOwnership",
    "Source",
    "SourceKind",
    "contributions_for_node_targets",
    "contributions_for_pod_targets",
    "pack_ranges",
    "pack_rules",
]
