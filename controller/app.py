"""The composition root: the shared pieces, built once, then each feature's ``setup`` in order.

Every replica runs the metrics/probe server and the informers (so a standby has warm caches); the
leader runs the features' tasks, started in the order they are added below and stopped in reverse
(the endpoint-SG queue first, the periodic resync last). Each ``setup`` says what they do.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.errors import AwsApiError
from controller.backendsg.setup import setup as setup_backend_sg
from controller.config import ControllerSettings
from controller.endpointsg.setup import setup as setup_endpoint_sg
from controller.gateway.crd_detection import NO_GATEWAY_CONTROLLERS, GatewayControllers
from controller.gateway.setup import setup as setup_gateways
from controller.gc.setup import setup as setup_leak_census
from controller.ingress.setup import setup as setup_ingress
from controller.networking.sg_reader import SecurityGroupReader
from controller.service.setup import setup as setup_service
from controller.stack.wiring import StackFeatureDeps
from controller.startup import (
    ControllerStartupError,
    aws_settings_from,
    gateway_controllers,
    instance_name,
    manager_settings,
    require_custom_resources,
)
from controller.targetgroupbinding import StackTargetGroups
from controller.targetgroupbinding.setup import setup as setup_tgb
from controller.vpc import VpcResolutionError, resolve_vpc_id
from framework.events import EventRecorder, EventRecorderSettings
from framework.httpserver import ListenError
from framework.kube import KubeClient, KubeConfigError
from framework.manager import CacheSyncTimeout, LeaderElectionLost, Manager
from framework.metrics import default_registry

logger = logging.getLogger(__name__)


class ControllerApp:
    """Everything one controller process runs, wired together; ``run`` until shutdown."""

    def __init__(
        self,
        config: ControllerSettings,
        *,
        kube: KubeClient,
        aws: AwsApi,
        vpc_id: str,
        registry: CollectorRegistry,
        gateways: GatewayControllers = NO_GATEWAY_CONTROLLERS,
    ) -> None:
        namespace = config.watch_namespace or None
        manager = Manager(kube, manager_settings(config), registry=registry, namespace=namespace)
        events = EventRecorder(kube, EventRecorderSettings(reporting_instance=instance_name()))
        reader = SecurityGroupReader(aws)  # one SG cache for every feature
        endpoint_sg = setup_endpoint_sg(config, manager, aws=aws, reader=reader, vpc_id=vpc_id)
        stack_tgs = StackTargetGroups()  # what stacks do to their target groups, told to the TGB reconciler
        bindings = setup_tgb(
            config, manager, aws=aws, endpoint_sg=endpoint_sg, events=events, stack_target_groups=stack_tgs
        )
        backend_sg = setup_backend_sg(config, manager, aws=aws, reader=reader, vpc_id=vpc_id)
        deps = StackFeatureDeps.build(  # one deployer and resync for every stack feature
            config, aws=aws, vpc_id=vpc_id, reader=reader, backend_sg=backend_sg, events=events,
            stack_target_groups=stack_tgs, endpoint_sg=endpoint_sg, informers=manager.informers,
        )  # fmt: skip
        stacks = (
            *setup_ingress(config, manager, deps),
            *setup_service(config, manager, deps),
            *setup_gateways(config, manager, deps, gateways),
        )
        endpoint_sg.hold_for_stacks(stacks)
        setup_leak_census(config, manager, aws=aws, reader=reader, deps=deps, registry=registry)
        features = (*endpoint_sg.leader_tasks, *bindings, *backend_sg.leader_tasks, *stacks)
        for task in (*features, endpoint_sg.maintenance, deps.resync):
            manager.add_controller(task)
        self.manager, self.events = manager, events

    async def run(self) -> None:
        self.events.start()
        try:
            await self.manager.run()
        finally:
            await self.events.stop()


async def run_controller(config: ControllerSettings, *, registry: CollectorRegistry | None = None) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until leadership is lost or start-up fails (exit 1)."""
    registry = registry if registry is not None else default_registry()
    try:
        async with await KubeClient.from_environment(kubeconfig=config.kubeconfig or None) as kube:
            gateways = await gateway_controllers(kube, config)
            await require_custom_resources(kube, config.watch_namespace or None, gateways)
            async with open_aws_client(aws_settings_from(config), registry) as aws:
                vpc_id = await resolve_vpc_id(aws, vpc_id=config.aws_vpc_id, vpc_tags=config.aws_vpc_tags)
                logger.info("Cluster %s in VPC %s", config.cluster_name, vpc_id)
                app = ControllerApp(
                    config, kube=kube, aws=aws, vpc_id=vpc_id, registry=registry, gateways=gateways
                )
                await app.run()
    except LeaderElectionLost:
        logger.error("Leader election lost; exiting so the pod restarts as a standby")
        return 1
    except (ControllerStartupError, VpcResolutionError, CacheSyncTimeout, KubeConfigError) as error:
        logger.error("Cannot start: %s", error)
        return 1
    except ListenError as error:
        logger.error(
            "Cannot start: %s (see --metrics-bind-addr and --health-probe-bind-addr)", error.strerror
        )
        return 1
    except AwsApiError as error:
        logger.error("Cannot start: AWS call failed: %s", error)
        return 1
    return 0
