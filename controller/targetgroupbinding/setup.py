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
from controller.targetgroupbinding.quota_warnings import BindingQuotaWarnings
from controller.targetgroupbinding.stack_target_groups import StackTargetGroups
from framework.events import EventRecorder
from framework.manager import LeaderRunnable, Manager


def setup(
    config: ControllerSettings,
    manager: Manager,
    *,
    aws: AwsApi,
    endpoint_sg: EndpointSGFeature,
    events: EventRecorder,
    stack_target_groups: StackTargetGroups,
) -> tuple[LeaderRunnable, ...]:
    """Build the controller (it adds its indices and handlers to the informers) and return it.

    ``stack_target_groups`` is shared with the Ingress and Service features: their deploys mark the
    target groups they created (nothing to read before registering) and their stack deletions those
    whose bindings' clean-up need not deregister. The endpoint-SG feature's warnings about the rules
    quota go to the bindings (and their Services) from here on."""
    informers = BindingInformers.from_factory(manager.informers)
    endpoint_sg.binding_warnings.target = BindingQuotaWarnings(
        events, informers.bindings.store, informers.services.store
    )
    controller = TargetGroupBindingController(
        client=manager.client,
        informers=informers,
        aws=aws,
        discovery=endpoint_sg.discovery,
        ownership=endpoint_sg.ownership,
        events=events,
        stack_target_groups=stack_target_groups,
        settings=TargetGroupBindingSettings.from_config(config),
        registry=manager.registry,
    )
    return (controller,)
