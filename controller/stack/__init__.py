"""What the Ingress-group and Service reconcilers share: one stack, reconciled for one or more
Kubernetes objects (upstream-behaviour §3.4, §7).

* ``reconcile``: the steps (finalizers, backend SG, deploy + TGB apply, status, stack deletion)
  and how their failures are reported;
* ``binding_applier``: makes the stack's TargetGroupBinding objects equal to the rendered ones,
  reading them from the TGB informer (``binding_cache``) without missing its own writes
  (``unseen_writes``);
* ``status``: the ``status.loadBalancer.ingress`` write;
* ``seams``: the deployer, backend-SG manager and informer stores the reconcilers are given;
* ``object_refs``: Event references of cached objects;
* ``resync``: every sync period, every stack is reconciled again (drift repair);
* ``wiring``: what the Ingress and Service setups share (``StackFeatureDeps``).
"""

from controller.stack.binding_applier import (
    TGB_REPLACE_REQUEUE_SECONDS,
    TargetGroupBindingApplier,
    TgbApplyResult,
)
from controller.stack.object_refs import reference_of
from controller.stack.reconcile import (
    EXPLAINED_ERRORS,
    REASON_FAILED_ADD_FINALIZER,
    REASON_FAILED_BUILD_MODEL,
    REASON_FAILED_CLEANUP_STATUS,
    REASON_FAILED_DEPLOY_MODEL,
    REASON_FAILED_REMOVE_FINALIZER,
    REASON_FAILED_UPDATE_STATUS,
    REASON_MODEL_WARNING,
    REASON_SUCCESSFULLY_RECONCILED,
    Deployed,
    StackReconcileSteps,
    model_inputs_changed,
    raise_if_terminal,
)
from controller.stack.seams import BackendSGUsers, ObjectCache, StackDeployerLike, TargetGroupBindingCache
from controller.stack.status import load_balancer_ingress, write_load_balancer_status

__all__ = [
    "EXPLAINED_ERRORS",
    "REASON_FAILED_ADD_FINALIZER",
    "REASON_FAILED_BUILD_MODEL",
    "REASON_FAILED_CLEANUP_STATUS",
    "REASON_FAILED_DEPLOY_MODEL",
    "REASON_FAILED_REMOVE_FINALIZER",
    "REASON_FAILED_UPDATE_STATUS",
    "REASON_MODEL_WARNING",
    "REASON_SUCCESSFULLY_RECONCILED",
    "TGB_REPLACE_REQUEUE_SECONDS",
    "BackendSGUsers",
    "Deployed",
    "ObjectCache",
    "StackDeployerLike",
    "StackReconcileSteps",
    "TargetGroupBindingApplier",
    "TargetGroupBindingCache",
    "TgbApplyResult",
    "load_balancer_ingress",
    "model_inputs_changed",
    "raise_if_terminal",
    "reference_of",
    "write_load_balancer_status",
]
