"""The TargetGroupBinding controller: endpoints → targets, and endpoint-SG rule contributions."""

from controller.targetgroupbinding.controller import TargetGroupBindingController, TargetGroupBindingSettings
from controller.targetgroupbinding.informers import BindingInformers
from controller.targetgroupbinding.model import CONTROLLER_NAME, TARGET_GROUP_BINDINGS
from controller.targetgroupbinding.reconciler import TargetGroupBindingReconciler
from controller.targetgroupbinding.stack_target_groups import StackTargetGroups

__all__ = [
    "CONTROLLER_NAME",
    "TARGET_GROUP_BINDINGS",
    "BindingInformers",
    "StackTargetGroups",
    "TargetGroupBindingController",
    "TargetGroupBindingReconciler",
    "TargetGroupBindingSettings",
]
