"""Ingress side of model building: class matching, groups, annotation merging, the ALB model builder."""

from controller.ingress.builder import IngressModelBuilder
from controller.ingress.class_matcher import (
    ALB_INGRESS_CONTROLLER,
    ClassifiedIngress,
    IngressClassMatcher,
    IngressClassSource,
)
from controller.ingress.group import (
    IngressGroup,
    IngressGroupId,
    build_group,
    group_id_of,
    group_ids_for_ingress,
)
from controller.ingress.target_groups import ServiceLookup

__all__ = [
    "ALB_INGRESS_CONTROLLER",
    "ClassifiedIngress",
    "IngressClassMatcher",
    "IngressClassSource",
    "IngressGroup",
    "IngressGroupId",
    "IngressModelBuilder",
    "ServiceLookup",
    "build_group",
    "group_id_of",
    "group_ids_for_ingress",
]
