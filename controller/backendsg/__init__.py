"""The shared backend security group: lazy creation, users from cluster state, deletion with backoff."""

from controller.backendsg.manager import BackendSGDisabledError, BackendSGManager, DeletionOutcome
from controller.backendsg.reconciler import BACKEND_SG_KEY, BackendSGReconciler
from controller.backendsg.settings import BackendSGSettings

__all__ = [
    "BACKEND_SG_KEY",
    "BackendSGDisabledError",
    "BackendSGManager",
    "BackendSGReconciler",
    "BackendSGSettings",
    "DeletionOutcome",
]
