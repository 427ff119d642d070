"""The TargetGroupBinding controller: endpoints → targets, and endpoint-SG rule contributions."""

from controller.targetgroupbinding.controller import TargetGroupBindingController, TargetGroupBindingSettings
from controller.targetgroupbinding.informers import BindingInformers
from controller.targetgroupbinding.model import CONTROLLER_NAME, TARGET_GROUP_BINDINGS
from controller.targetgroupbinding.reconciler import TargetGroupBindingReconciler
from controller.targetgroupbinding.stack_deletions import StackTargetGroupDeletions

__all__ = [
    "CONTROLLER_NAME",
    "TARGET_GROUP_BINDINGS",
    "BindingInformers",
    "StackTargetGroupDeletions",
    "TargetGroupBindingController",
    "TargetGroupBindingReconciler",
    "TargetGroupBindingSettings",
]
