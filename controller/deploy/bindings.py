"""TargetGroupBinding objects of a deployed stack, rendered for the caller to apply.

Labels follow upstream's tracking labels, so the caller can list a stack's TGBs by label and
delete those the model no longer has: ``<prefix>/stack-namespace`` + ``<prefix>/stack-name`` for
a namespaced stack id (``ns/name``), ``<prefix>/stack`` for an explicit Ingress group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from controller.model.stack import StackModel
from controller.model.target_group_binding import PeerKind, PeerValues
from controller.naming import StackTags

TGB_API_VERSION: Final = "elbv2.k8s.aws/v1beta1"
TGB_KIND: Final = "TargetGroupBinding"


def stack_labels(stack: StackTags) -> dict[str, str]:
    namespace, slash, name = stack.stack_id.partition("/")
    if not slash:
        return {f"{stack.prefix}/stack": stack.stack_id}
    return {f"{stack.prefix}/stack-namespace": namespace, f"{stack.prefix}/stack-name": name}


def needs_vpc_cidrs(model: StackModel) -> bool:
    kinds = {PeerKind.VPC_CIDRS_IPV4, PeerKind.VPC_CIDRS_IPV6}
    return any(
        peer.kind in kinds
        for binding in model.target_group_bindings
        if binding.networking is not None
        for rule in binding.networking.ingress
        for peer in rule.peers
    )


def render_target_group_bindings(
    model: StackModel, target_group_arns: Mapping[str, str], values: PeerValues
) -> tuple[dict[str, Any], ...]:
    """The model's TGB objects, labelled with its stack so the applier finds them again."""
    labels = stack_labels(model.stack_tags)
    return tuple(
        {
            "apiVersion": TGB_API_VERSION,
            "kind": TGB_KIND,
            "metadata": {"name": binding.name, "namespace": binding.namespace, "labels": dict(labels)},
            "spec": binding.to_k8s_spec(target_group_arns[binding.target_group_id], values),
        }
        for binding in model.target_group_bindings
    )
