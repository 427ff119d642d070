"""Wiring of the leak census (``awslbc_leaked_*``) into the running controller."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.config import ControllerSettings
from controller.gc.census import LeakCensus
from controller.gc.owners import LiveOwners, live_owners
from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS
from controller.networking.sg_reader import SecurityGroupReader
from controller.stack.namespaces import slim_namespace
from controller.stack.wiring import StackFeatureDeps
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.kube import INGRESS_CLASSES, INGRESSES, NAMESPACES, SERVICES
from framework.manager import Manager


def setup(
    config: ControllerSettings,
    manager: Manager,
    *,
    aws: AwsApi,
    reader: SecurityGroupReader,
    deps: StackFeatureDeps,
    registry: CollectorRegistry,
) -> LeakCensus:
    """The ``awslbc_leaked_*`` gauges, over the informer caches the features already share; registered
    on the stack resync after the ELBv2 index, so each sync period counts from the index's fresh scan."""
    informers = manager.informers
    ingresses, classes = informers.informer(INGRESSES), informers.informer(INGRESS_CLASSES)
    services, bindings = informers.informer(SERVICES), informers.informer(TARGET_GROUP_BINDINGS)
    # The same informers (and transform) the Ingress feature reads class configuration from.
    params = informers.informer(INGRESS_CLASS_PARAMS)
    namespaces = informers.informer(NAMESPACES, transform=slim_namespace)

    def owners() -> LiveOwners:
        return live_owners(
            cluster_name=config.cluster_name,
            ingresses=ingresses.store.list(),
            ingress_classes=classes.store.list(),
            ingress_class_params=params.store.list(),
            namespaces=namespaces.store.list(),
            services=services.store.list(),
            bindings=bindings.store.list(),
            ingress_class=config.ingress_class,
            load_balancer_class=config.load_balancer_class,
        )

    census = LeakCensus(
        api=aws,
        reader=reader,
        index=deps.deployer.elbv2_index,
        owners=owners,
        cluster_name=config.cluster_name,
        vpc_id=deps.vpc_id,
        registry=registry,
        custom_backend_sg=config.backend_security_group,
    )
    deps.resync.add_refresher(census)
    return census
