"""Wiring of the ``targetGroupBinding`` controller onto the manager's shared informers."""

from __future__ import annotations

from controller.aws.api import AwsApi
from controller.config import ControllerSettings
from controller.endpointsg.setup import EndpointSGFeature
from controller.targetgroupbinding.controller import (
    TargetGroupBindingController,
    TargetGroupBindingSettings,
)
from controller.targetgroupbinding.informers import BindingInformers
from framework.events import EventRecorder
from framework.manager import LeaderRunnable, Manager


def setup(
    config: ControllerSettings,
    manager: Manager,
    *,
    aws: AwsApi,
    endpoint_sg: EndpointSGFeature,
    events: EventRecorder,
) -> tuple[LeaderRunnable, ...]:
    """Build the controller (it adds its indices and handlers to the informers) and return it."""
    controller = TargetGroupBindingController(
        client=manager.client,
        informers=BindingInformers.from_factory(manager.informers),
        aws=aws,
        discovery=endpoint_sg.discovery,
        ownership=endpoint_sg.ownership,
        events=events,
        settings=TargetGroupBindingSettings.from_config(config),
        registry=manager.registry,
    )
    return (controller,)
