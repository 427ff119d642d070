"""The controller process: one manager, shared informers, and the controllers built on them.

Composition only; each piece lives in its own package. What runs where:

* every replica: the metrics/probe server and the informers (so a standby has warm caches);
* the leader only: the controllers below, started in this order and stopped in reverse:

  ``endpointSecurityGroup``  one key per node/pod ENI security group: desired = packed union of
                             every TargetGroupBinding's contributions; authorize, then revoke ours;
  ``targetGroupBinding``     endpoints → registered targets, and this binding's contributions;
  stack controllers          backend SG users resync, ``backendSecurityGroup``, ``ingress``,
                             ``service`` (see ``controller.stacks``);
  endpoint SG maintenance    once per leadership, cluster-tagged SGs are checked for stale rules;
                             then every ``--sync-period`` all tracked SGs are re-checked.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.errors import AwsApiError
from controller.aws.settings import AwsSettings
from controller.config import ControllerConfig
from controller.endpointsg.discovery import EndpointSGDiscovery
from controller.endpointsg.eni_sg import EniSGSelector
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGReconciler, EndpointSGRules
from controller.endpointsg.service import EndpointRuleService
from controller.leader_task import LeaderTask
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_reader import SecurityGroupReader
from controller.stacks import StackControllers
from controller.targetgroupbinding.controller import (
    TargetGroupBindingController,
    TargetGroupBindingSettings,
)
from controller.targetgroupbinding.informers import BindingInformers
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from controller.vpc import VpcResolutionError, resolve_vpc_id
from framework.clock import REAL_CLOCK, Clock
from framework.controller import Controller, ControllerOptions
from framework.events import EventRecorder, EventRecorderSettings
from framework.httpserver import BindAddress, ListenError
from framework.kube import KubeApiError, KubeClient, KubeConfigError, KubeError, Resource
from framework.leaderelection import LeaderElectionConfig
from framework.manager import CacheSyncTimeout, LeaderElectionLost, Manager, ManagerSettings
from framework.metrics import default_registry

logger = logging.getLogger(__name__)

ENDPOINT_SG_CONTROLLER = "endpointSecurityGroup"
ENDPOINT_SG_WORKERS = 3
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# The custom resources we watch: each must be served before the informers can sync.
CUSTOM_RESOURCES: tuple[Resource, ...] = (TARGET_GROUP_BINDINGS,)
INSTALL_CRDS_COMMAND = "kubectl apply -k config/crd"
CRD_CHECK_TIMEOUT_S = 10.0


class ControllerStartupError(RuntimeError):
    """The process cannot start (bad environment, unreachable AWS, unknown VPC)."""


def aws_settings_from(config: ControllerConfig) -> AwsSettings:
    endpoints = {url for url in config.aws_api_endpoints.values() if url}
    if len(endpoints) > 1:
        # One endpoint serves both services in every setup we support (VPC endpoints behind one
        # proxy, moto); different per-service endpoints would silently send calls to the wrong one.
        raise ControllerStartupError(
            f"--aws-api-endpoints must name one endpoint for ec2 and elasticloadbalancing, got {sorted(endpoints)}"
        )
    return AwsSettings.resolve(
        region=config.aws_region or None,
        endpoint_url=next(iter(endpoints), None),
        max_retries=config.aws_max_retries,
        throttle=config.aws_api_throttle or None,
        # Every worker of every controller may hold one connection, plus informer-independent
        # background work (GC, backend SG deletion).
        max_pool_connections=max(
            32,
            ENDPOINT_SG_WORKERS
            + config.targetgroupbinding_max_concurrent_reconciles
            + config.ingress_max_concurrent_reconciles
            + config.service_max_concurrent_reconciles
            + 8,
        ),
    )


def leader_election_namespace(config: ControllerConfig) -> str:
    """Upstream's default is the pod's own namespace; off-cluster we fall back to kube-system."""
    if config.leader_election_namespace:
        return config.leader_election_namespace
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip()
    return "kube-system"


def manager_settings(config: ControllerConfig) -> ManagerSettings:
    leader_election = None
    if config.enable_leader_election:
        leader_election = LeaderElectionConfig(
            lease_name=config.leader_election_id,
            lease_namespace=leader_election_namespace(config),
            # A clean shutdown hands over at once instead of after the 15 s lease expiry.
            release_on_cancel=True,
        )
    return ManagerSettings(
        metrics_address=BindAddress.parse(config.metrics_bind_addr),
        probe_address=BindAddress.parse(config.health_probe_bind_addr),
        leader_election=leader_election,
    )


class EndpointSGMaintenance(LeaderTask):
    """While leading: find the endpoint SGs to look after, then re-check them every sync period.

    First it tracks every cluster-tagged SG in the VPC so stale rules of ours get revoked (GC,
    upstream-behaviour §4.8), retrying with backoff (AWS may be throttling right after a failover). Then,
    every ``--sync-period``, it forgets which SGs were converged and enqueues all tracked ones, so
    a rule someone deleted by hand is restored within one period, as upstream's resync does.
    Neither step blocks the controllers, which run meanwhile.
    """

    name = "endpointSecurityGroupMaintenance"

    def __init__(
        self,
        endpoint_rules: EndpointRuleService,
        rules: EndpointSGRules,
        enqueue: Callable[[str], None],
        *,
        sync_period: float,
        clock: Clock = REAL_CLOCK,
        retry_cap: float = 60.0,
    ) -> None:
        super().__init__()
        self._endpoint_rules = endpoint_rules
        self._rules = rules
        self._enqueue = enqueue
        self._sync_period = sync_period
        self._clock = clock
        self._retry_cap = retry_cap

    def start(self) -> None:
        self._spawn(self._run())

    async def _run(self) -> None:
        await self._seed()
        while True:
            await self._clock.sleep(self._sync_period)
            self._rules.forget_converged()
            tracked = sorted(self._endpoint_rules.ownership.tracked_sgs)
            logger.info("Periodic re-check of %d endpoint security groups", len(tracked))
            for group_id in tracked:
                self._enqueue(group_id)

    async def _seed(self) -> None:
        delay = 1.0
        while True:
            try:
                seeded = await self._endpoint_rules.seed_from_aws()
            except AwsApiError as error:
                logger.warning(
                    "Tracking cluster-tagged security groups failed, retrying in %.0fs: %s", delay, error
                )
                await self._clock.sleep(delay)
                delay = min(delay * 2, self._retry_cap)
                continue
            logger.info("Tracking %d cluster-tagged endpoint security groups", len(seeded))
            return


class ControllerApp:
    """Everything one controller process runs, wired together; ``run`` until shutdown."""

    def __init__(
        self,
        config: ControllerConfig,
        *,
        kube: KubeClient,
        aws: AwsApi,
        vpc_id: str,
        registry: CollectorRegistry,
    ) -> None:
        self.config = config
        self.manager = Manager(
            kube,
            manager_settings(config),
            registry=registry,
            namespace=config.watch_namespace or None,
        )
        self.events = EventRecorder(kube, EventRecorderSettings(reporting_instance=_instance_name()))
        reader = SecurityGroupReader(aws)
        self.ownership = RuleOwnership(
            max_port_ranges_per_source=config.max_port_ranges_per_source,
            merge_port_ranges=not config.disable_restricted_sg_rules,
        )
        endpoint_sg_rules = EndpointSGRules(self.ownership, SecurityGroupRuleReconciler(aws, reader))
        self.endpoint_sg_controller: Controller[str] = Controller(
            ENDPOINT_SG_CONTROLLER,
            EndpointSGReconciler(endpoint_sg_rules),
            options=ControllerOptions(max_concurrent_reconciles=ENDPOINT_SG_WORKERS),
            registry=registry,
        )
        self.endpoint_rules = EndpointRuleService(
            self.ownership,
            self.endpoint_sg_controller.queue.add,
            api=aws,
            vpc_id=vpc_id,
            cluster_name=config.cluster_name,
        )
        discovery = EndpointSGDiscovery(
            aws,
            vpc_id=vpc_id,
            selector=EniSGSelector(config.cluster_name, dict(config.service_target_eni_security_group_tags)),
            reader=reader,
        )
        self.tgb_controller = TargetGroupBindingController(
            client=kube,
            informers=BindingInformers.from_factory(self.manager.informers),
            aws=aws,
            discovery=discovery,
            endpoint_rules=self.endpoint_rules,
            events=self.events,
            settings=TargetGroupBindingSettings.from_config(config),
            registry=registry,
        )
        self.stacks = StackControllers(
            config,
            manager=self.manager,
            kube=kube,
            aws=aws,
            vpc_id=vpc_id,
            reader=reader,
            events=self.events,
            endpoint_rules=self.endpoint_rules,
            endpoint_sg_rules=endpoint_sg_rules,
            registry=registry,
        )
        self.manager.add_controller(self.endpoint_sg_controller)
        self.manager.add_controller(self.tgb_controller)
        for runnable in self.stacks.leader_runnables():
            self.manager.add_controller(runnable)
        self.manager.add_controller(
            EndpointSGMaintenance(
                self.endpoint_rules,
                endpoint_sg_rules,
                self.endpoint_sg_controller.queue.add,
                sync_period=config.sync_period,
            )
        )

    async def run(self) -> None:
        self.events.start()
        try:
            await self.manager.run()
        finally:
            await self.events.stop()


def _instance_name() -> str:
    return os.environ.get("POD_NAME") or os.uname().nodename


async def require_custom_resources(kube: KubeClient, namespace: str | None) -> None:
    """Fail at once, naming the CRD and how to install it, when a custom resource we watch is not
    served. Its informer would otherwise retry the 404 until the cache-sync timeout (two minutes)
    and then say only that it timed out; controller-runtime likewise refuses to start when a
    watched kind is unknown to the API server."""
    for resource in CUSTOM_RESOURCES:
        try:
            await kube.list(resource, namespace, query=[("limit", "1")], request_timeout=CRD_CHECK_TIMEOUT_S)
        except KubeApiError as error:
            if error.is_not_found:
                raise ControllerStartupError(
                    f"the {resource.kind} CRD ({resource.plural}.{resource.group}, version {resource.version}) "
                    f"is not installed in the cluster; install it with `{INSTALL_CRDS_COMMAND}`"
                ) from None
            raise ControllerStartupError(f"cannot list {resource.plural}.{resource.group}: {error}") from None
        except KubeError as error:
            raise ControllerStartupError(f"cannot reach the Kubernetes API: {error}") from None


@contextlib.asynccontextmanager
async def _kube_client(config: ControllerConfig) -> AsyncIterator[KubeClient]:
    client = await KubeClient.from_environment(kubeconfig=config.kubeconfig or None)
    try:
        yield client
    finally:
        await client.close()


async def run_controller(config: ControllerConfig, *, registry: CollectorRegistry | None = None) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until leadership is lost or start-up fails (exit 1)."""
    registry = registry if registry is not None else default_registry()
    try:
        async with _kube_client(config) as kube:
            await require_custom_resources(kube, config.watch_namespace or None)
            async with open_aws_client(aws_settings_from(config), registry) as aws:
                vpc_id = await resolve_vpc_id(aws, vpc_id=config.aws_vpc_id, vpc_tags=config.aws_vpc_tags)
                logger.info("Cluster %s in VPC %s", config.cluster_name, vpc_id)
                app = ControllerApp(config, kube=kube, aws=aws, vpc_id=vpc_id, registry=registry)
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
