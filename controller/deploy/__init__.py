"""Deploy a stack model to EC2/ELBv2 (SG → TGs → LB → listeners → rules → TGBs; delete in reverse)."""

from controller.deploy.deployer import StackDeployer
from controller.deploy.errors import (
    DEFAULT_REQUEUE_AFTER_SECONDS,
    DeployError,
    DeploymentPending,
    SubnetResolutionError,
    UnexpectedResourceError,
)
from controller.deploy.result import DeletionResult, DeployResult
from controller.deploy.security_group import DependencyViolationHook

__all__ = [
    "DEFAULT_REQUEUE_AFTER_SECONDS",
    "DeletionResult",
    "DependencyViolationHook",
    "DeployError",
    "DeployResult",
    "DeploymentPending",
    "StackDeployer",
    "SubnetResolutionError",
    "UnexpectedResourceError",
]
