"""What the Ingress and Service features share, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from controller.aws.api import AwsApi
from controller.backendsg.setup import BackendSGFeature
from controller.config import ControllerSettings
from controller.deploy import StackDeployer
from controller.endpointsg.setup import EndpointSGFeature
from controller.networking.sg_reader import SecurityGroupReader
from controller.stack.binding_cache import InformerBindingCache
from controller.stack.resync import StackResync
from controller.stack.seams import TargetGroupBindingCache
from controller.targetgroupbinding import StackTargetGroups
from framework.events import EventRecorder
from framework.informer import InformerFactory


@dataclass(frozen=True)
class StackFeatureDeps:
    """The pieces both stack features (``ingress``, ``service``) are set up with.

    One deployer, backend SG manager, deletion record and resync for both: a Service and an
    Ingress may share the backend SG, and the TGB clean-up must see every stack deletion. The
    stacks' TargetGroupBindings are read from the TGB informer's cache (``tgb_cache``).
    """

    aws: AwsApi
    vpc_id: str
    deployer: StackDeployer
    backend_sg: BackendSGFeature
    events: EventRecorder
    stack_target_groups: StackTargetGroups
    resync: StackResync
    tgb_cache: TargetGroupBindingCache

    @classmethod
    def build(
        cls,
        config: ControllerSettings,
        *,
        informers: InformerFactory,
        aws: AwsApi,
        vpc_id: str,
        reader: SecurityGroupReader,
        backend_sg: BackendSGFeature,
        events: EventRecorder,
        stack_target_groups: StackTargetGroups,
        endpoint_sg: EndpointSGFeature | None = None,
    ) -> StackFeatureDeps:
        """The shared deployer, the resync that reconciles every stack again each sync period, and
        the TGB cache on ``informers`` (the TGB controller's informer, indexed by stack).

        ``endpoint_sg``: its reference stripper runs when deleting a managed SG hits
        DependencyViolation, and the managed SGs' rule counts go to its quota metrics."""
        deployer = StackDeployer(
            aws,
            reader,
            cluster_name=config.cluster_name,
            vpc_id=vpc_id,
            external_managed_tags=config.external_managed_tags,
            on_dependency_violation=endpoint_sg.reference_stripper if endpoint_sg else None,
            rules_quota=config.sg_rules_quota,
            rule_metrics=endpoint_sg.rule_metrics if endpoint_sg else None,
        )
        resync = StackResync(sync_period=config.sync_period)
        # Before each resync re-delivers every stack, the ELBv2 and SG indexes rescan, so resources
        # edited or deleted by hand are seen (and repaired) in that same period.
        resync.add_refresher(deployer.elbv2_index)
        resync.add_refresher(deployer.sg_index)
        tgb_cache = InformerBindingCache.from_factory(informers)
        return cls(aws, vpc_id, deployer, backend_sg, events, stack_target_groups, resync, tgb_cache)
