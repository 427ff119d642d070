"""Service side of model building: which Services are ours and the NLB model builder."""

from controller.service.builder import ExistingLoadBalancer, ServiceModelBuilder
from controller.service.matcher import is_managed_service

__all__ = ["ExistingLoadBalancer", "ServiceModelBuilder", "is_managed_service"]
