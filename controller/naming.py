"""Names, descriptions and tag keys of the AWS resources we own, exactly as the upstream LBC spells them.

Upstream compatibility matters here more than anywhere: SG names, tag keys and rule labels are how an
existing installation's resources are recognised after a migration, and IAM policies or dashboards
match on them. The formulas are in upstream-behaviour §1.2 (managed SG), §3.2 (backend SG), §1.4 (tags) and
§4.4/§4.6 (rule label).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

_NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]")


def sanitize_name_part(value: str) -> str:
    """Drop every character that is not ASCII ``[0-9A-Za-z]`` (upstream's ``invalidSGNamePattern``)."""
    return _NOT_ALPHANUMERIC.sub("", value)


def short_hash(*parts: str) -> str:
    """First 10 lowercase hex digits of SHA-256 over the parts concatenated without separators."""
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()[:10]


# --------------------------------------------------------------------------------------------------
# Managed (frontend) security group
# --------------------------------------------------------------------------------------------------

MANAGED_SG_DESCRIPTION: Final = "[k8s] Managed SecurityGroup for LoadBalancer"
MANAGED_SG_RESOURCE_ID: Final = "ManagedLBSecurityGroup"
"""Model resource id of the managed SG; it is the value of the ``<prefix>/resource`` tag."""


def managed_sg_name_for_implicit_ingress(cluster_name: str, namespace: str, ingress_name: str) -> str:
    """SG name for an Ingress without ``group.name``: ``k8s-<ns[:8]>-<name[:8]>-<hash>``."""
    digest = short_hash(cluster_name, f"{namespace}/{ingress_name}")
    return f"k8s-{sanitize_name_part(namespace)[:8]}-{sanitize_name_part(ingress_name)[:8]}-{digest}"


def managed_sg_name_for_explicit_group(cluster_name: str, group_name: str) -> str:
    """SG name for an explicit IngressGroup: ``k8s-<groupName[:17]>-<hash>``."""
    digest = short_hash(cluster_name, group_name)
    return f"k8s-{sanitize_name_part(group_name)[:17]}-{digest}"


def managed_sg_name_for_service(cluster_name: str, namespace: str, name: str, uid: str) -> str:
    """SG name for an NLB Service. The UID is hashed, so a re-created Service gets a new name."""
    digest = short_hash(cluster_name, name, namespace, uid)
    return f"k8s-{sanitize_name_part(namespace)[:8]}-{sanitize_name_part(name)[:8]}-{digest}"


def managed_sg_name_for_gateway(cluster_name: str, namespace: str, name: str, uid: str) -> str:
    """SG name for a Gateway: the Service formula applied to the Gateway's name, namespace and UID."""
    return managed_sg_name_for_service(cluster_name, namespace, name, uid)


def load_balancer_name_for_gateway(
    cluster_name: str, namespace: str, name: str, uid: str, scheme: str
) -> str:
    """A Gateway's LB name (upstream's gateway ``buildLoadBalancerName``): the hash covers the
    cluster, the Gateway's UID and the scheme, so a scheme change makes a new LB."""
    digest = short_hash(cluster_name, uid, scheme)
    return f"k8s-{sanitize_name_part(namespace)[:8]}-{sanitize_name_part(name)[:8]}-{digest}"


# --------------------------------------------------------------------------------------------------
# Shared backend security group
# --------------------------------------------------------------------------------------------------

BACKEND_SG_DESCRIPTION: Final = "[k8s] Shared Backend SecurityGroup for LoadBalancer"
BACKEND_SG_RESOURCE_ID: Final = "backend-sg"


def backend_sg_name(cluster_name: str) -> str:
    """``k8s-traffic-<sanitized cluster[:232]>-<hash>``; the hash covers the *raw* cluster name."""
    return f"k8s-traffic-{sanitize_name_part(cluster_name)[:232]}-{short_hash(cluster_name)}"


# --------------------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------------------

TAG_CLUSTER: Final = "elbv2.k8s.aws/cluster"
"""Stack-tracking tag on every resource we create; value is the cluster name."""
TAG_ELBV2_RESOURCE: Final = "elbv2.k8s.aws/resource"
"""Resource-id tag of cluster-wide resources (the backend SG: value ``backend-sg``)."""
TAG_LEGACY_INGRESS_CLUSTER: Final = "ingress.k8s.aws/cluster"
"""Cluster tag written by pre-v2 controllers; still used to find their SGs (upstream-behaviour §1.8)."""
TAG_NAME: Final = "Name"
"""Custom SGs are resolved by this tag, not by the EC2 group name (upstream-behaviour §2.2)."""

INGRESS_TAG_PREFIX: Final = "ingress.k8s.aws"
SERVICE_TAG_PREFIX: Final = "service.k8s.aws"
GATEWAY_ALB_TAG_PREFIX: Final = "gateway.k8s.aws.alb"
GATEWAY_NLB_TAG_PREFIX: Final = "gateway.k8s.aws.nlb"
STACK_TAG_PREFIXES: Final = (
    INGRESS_TAG_PREFIX,
    SERVICE_TAG_PREFIX,
    GATEWAY_ALB_TAG_PREFIX,
    GATEWAY_NLB_TAG_PREFIX,
)


def stack_tag_key(prefix: str) -> str:
    """``<prefix>/stack``, e.g. ``ingress.k8s.aws/stack``."""
    return f"{prefix}/stack"


def resource_tag_key(prefix: str) -> str:
    """``<prefix>/resource``, e.g. ``ingress.k8s.aws/resource``."""
    return f"{prefix}/resource"


def stack_id_for_implicit_ingress(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def stack_id_for_explicit_group(group_name: str) -> str:
    return group_name


def stack_id_for_service(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


@dataclass(frozen=True)
class StackTags:
    """The tracking tags of one stack (an Ingress group, a Service or a Gateway)."""

    cluster_name: str
    prefix: str
    stack_id: str

    def tracking_tags(self) -> dict[str, str]:
        """``elbv2.k8s.aws/cluster`` + ``<prefix>/stack``: what the deploy phase filters on."""
        return {TAG_CLUSTER: self.cluster_name, stack_tag_key(self.prefix): self.stack_id}

    def legacy_tracking_tags(self) -> dict[str, str]:
        """The second lookup of upstream-behaviour §1.8, for resources created by older controllers."""
        return {TAG_LEGACY_INGRESS_CLUSTER: self.cluster_name, stack_tag_key(self.prefix): self.stack_id}

    def resource_tags(self, resource_id: str) -> dict[str, str]:
        """Tracking tags plus ``<prefix>/resource=<resource_id>``."""
        return {**self.tracking_tags(), resource_tag_key(self.prefix): resource_id}


def backend_sg_tags(cluster_name: str) -> dict[str, str]:
    """The two tracking tags of the auto-created backend SG (default tags come first at creation)."""
    return {TAG_CLUSTER: cluster_name, TAG_ELBV2_RESOURCE: BACKEND_SG_RESOURCE_ID}


TRACKING_TAG_KEYS: Final = frozenset(
    {TAG_CLUSTER, TAG_ELBV2_RESOURCE}
    | {stack_tag_key(p) for p in STACK_TAG_PREFIXES}
    | {resource_tag_key(p) for p in STACK_TAG_PREFIXES}
)
"""Keys ``--default-tags`` and ``--external-managed-tags`` may not contain (startup validation, §1.4)."""

AWS_RESERVED_TAG_PREFIX: Final = "aws:"
"""Tags with this prefix belong to AWS (CloudFormation, ...) and are never created or deleted by us."""


def cluster_tag_key(cluster_name: str) -> str:
    """``kubernetes.io/cluster/<cluster>``: marks node/pod SGs (any value) and is a legacy SG tag."""
    return f"kubernetes.io/cluster/{cluster_name}"


def legacy_tag_keys(cluster_name: str) -> frozenset[str]:
    """Keys left by older controllers that a tag reconcile must neither add nor remove (§1.4)."""
    return frozenset(
        {
            cluster_tag_key(cluster_name),
            "kubernetes.io/cluster-name",
            "kubernetes.io/namespace",
            "kubernetes.io/ingress-name",
            "kubernetes.io/service-name",
            "kubernetes.io/service-port",
            TAG_LEGACY_INGRESS_CLUSTER,
        }
    )


# --------------------------------------------------------------------------------------------------
# Rule labels on endpoint SGs
# --------------------------------------------------------------------------------------------------

TGB_RULE_LABEL_KEY: Final = "elbv2.k8s.aws/targetGroupBinding"
TGB_RULE_LABEL_VALUE: Final = "shared"
TGB_RULE_DESCRIPTION: Final = f"{TGB_RULE_LABEL_KEY}={TGB_RULE_LABEL_VALUE}"
"""Description of every rule we add to an endpoint SG; only rules carrying it are ever revoked."""
