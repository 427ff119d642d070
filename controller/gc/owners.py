"""What the cluster's live objects own: the stacks they want and the rule sources their bindings name.

Computed from plain object dicts, so the ``gc`` command (a list of each kind) and the running
controller (its informer caches) decide alike. Ownership errs on the side of keeping: a stack is
owned by every Ingress whose class or finalizer names its group, and by every Service that would get
an NLB or still carries our finalizer (an object being deleted is the controller's to clean up, not
ours). A resource is only ever reported when no object could claim it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.endpointsg.contributions import NetworkingSpecError, parse_peer
from controller.endpointsg.model import Source, SourceKind
from controller.finalizers import SERVICE_FINALIZER
from controller.ingress.class_matcher import IngressClassMatcher, IngressClassSource
from controller.ingress.group import group_ids_for_ingress
from controller.naming import INGRESS_TAG_PREFIX, SERVICE_TAG_PREFIX, StackTags, stack_id_for_service
from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    RuleSource,
    SecurityGroupSource,
    canonical_cidr,
)
from controller.service.matcher import is_managed_service
from framework.objects import finalizers_of, name_of, namespace_of

KubeDict = Mapping[str, Any]


@dataclass(frozen=True)
class LiveOwners:
    """The stacks live objects want, and every rule source a live TargetGroupBinding names."""

    stacks: frozenset[StackTags]
    rule_sources: frozenset[Source]


class _ListedIngressClasses(IngressClassSource):
    """The class matcher's view over plain lists of IngressClasses, IngressClassParams and
    Namespaces (cluster-scoped: keyed by name), as ``InformerIngressClasses`` over the caches."""

    def __init__(
        self, classes: Iterable[KubeDict], params: Iterable[KubeDict], namespaces: Iterable[KubeDict]
    ) -> None:
        self._classes = {name_of(c): c for c in classes}
        self._params = {name_of(p): p for p in params}
        self._namespaces = {name_of(n): n for n in namespaces}

    def get_ingress_class(self, name: str) -> KubeDict | None:
        return self._classes.get(name)

    def list_ingress_classes(self) -> Iterable[KubeDict]:
        return self._classes.values()

    def get_ingress_class_params(self, name: str) -> KubeDict | None:
        return self._params.get(name)

    def get_namespace(self, name: str) -> KubeDict | None:
        return self._namespaces.get(name)


def live_owners(
    *,
    cluster_name: str,
    ingresses: Iterable[KubeDict],
    ingress_classes: Iterable[KubeDict],
    services: Iterable[KubeDict],
    bindings: Iterable[KubeDict],
    ingress_class: str,
    load_balancer_class: str,
    ingress_class_params: Iterable[KubeDict] = (),
    namespaces: Iterable[KubeDict] = (),
) -> LiveOwners:
    """An Ingress whose class configuration cannot be loaded (params missing, its Namespace not
    selected) still owns its implicit group and every group its finalizers name."""
    matcher = IngressClassMatcher(
        _ListedIngressClasses(ingress_classes, ingress_class_params, namespaces), ingress_class=ingress_class
    )
    stacks: set[StackTags] = set()
    for ingress in ingresses:
        for group_id in group_ids_for_ingress(ingress, matcher):
            stacks.add(StackTags(cluster_name, INGRESS_TAG_PREFIX, str(group_id)))
    for service in services:
        if is_managed_service(service, load_balancer_class) or SERVICE_FINALIZER in finalizers_of(service):
            stack_id = stack_id_for_service(namespace_of(service), name_of(service))
            stacks.add(StackTags(cluster_name, SERVICE_TAG_PREFIX, stack_id))
    return LiveOwners(frozenset(stacks), frozenset(_binding_sources(bindings)))


def _binding_sources(bindings: Iterable[KubeDict]) -> set[Source]:
    sources: set[Source] = set()
    for binding in bindings:
        networking = (binding.get("spec") or {}).get("networking") or {}
        for ingress in networking.get("ingress") or ():
            for peer in ingress.get("from") or ():
                try:
                    sources.add(parse_peer(peer))
                except NetworkingSpecError:
                    continue  # a peer the controller cannot parse adds no rule, so it needs none
    return sources


def source_of(rule_source: RuleSource) -> Source:
    """The binding peer a rule's source stands for (CIDRs in the canonical form ``parse_peer`` gives)."""
    match rule_source:
        case SecurityGroupSource(group_id=group_id):
            return Source(SourceKind.SECURITY_GROUP, group_id)
        case Ipv4CidrSource(cidr=cidr):
            return Source(SourceKind.IPV4_CIDR, canonical_cidr(cidr))
        case Ipv6CidrSource(cidr=cidr):
            return Source(SourceKind.IPV6_CIDR, canonical_cidr(cidr))
        case PrefixListSource(prefix_list_id=prefix_list_id):
            return Source(SourceKind.PREFIX_LIST, prefix_list_id)
