"""Service side of model building: which Services are ours and the NLB model builder."""

from controller.service.builder import ExistingLoadBalancer, ServiceModelBuilder
from controller.service.matcher import SERVICE_FINALIZER, is_managed_service

__all__ = ["SERVICE_FINALIZER", "ExistingLoadBalancer", "ServiceModelBuilder", "is_managed_service"]
