"""Wiring of the shared backend SG: its manager, the ``backendSecurityGroup`` controller, the users resync.

Leader-only tasks, in start order:

``backendSecurityGroupUsers``  once per leadership: the users are recomputed from the cluster
                              (see ``controller.backendsg.resync``);
``backendSecurityGroup``       one key: delete the auto-created backend SG once nobody uses it,
                              requeued with backoff while AWS answers DependencyViolation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.aws.api import AwsApi
from controller.backendsg.manager import BackendSGManager
from controller.backendsg.reconciler import BACKEND_SG_KEY, BackendSGReconciler
from controller.backendsg.resync import BackendSGUsersResync
from controller.backendsg.settings import BackendSGSettings
from controller.config import ControllerSettings
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from framework.controller import Controller
from framework.manager import LeaderRunnable, Manager


@dataclass(frozen=True)
class BackendSGFeature:
    """What the Ingress and Service features need from the backend SG, and its leader-only tasks."""

    manager: BackendSGManager
    users: BackendSGUsersResync
    """Each feature whose objects may use the backend SG registers its user source here."""
    on_unused: Callable[[], None]
    """Call when a release left the backend SG without users: its deletion is queued."""
    leader_tasks: tuple[LeaderRunnable, ...]


def setup(
    config: ControllerSettings, manager: Manager, *, aws: AwsApi, reader: SecurityGroupReader, vpc_id: str
) -> BackendSGFeature:
    backend_sg = BackendSGManager(
        BackendSGSettings.from_config(config, vpc_id),
        aws,
        sg_manager=SecurityGroupManager(aws, reader),
        reader=reader,
    )
    controller: Controller[str] = Controller(
        "backendSecurityGroup", BackendSGReconciler(backend_sg), registry=manager.registry
    )

    def backend_sg_unused() -> None:
        controller.queue.add(BACKEND_SG_KEY)

    users = BackendSGUsersResync(backend_sg, controller)
    return BackendSGFeature(
        manager=backend_sg, users=users, on_unused=backend_sg_unused, leader_tasks=(users, controller)
    )
