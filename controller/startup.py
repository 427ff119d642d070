"""What the process derives and checks before it wires anything: settings from flags, the CRD check."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from controller.aws.settings import AwsSettings
from controller.config import ControllerSettings
from controller.endpointsg.setup import ENDPOINT_SG_WORKERS
from controller.gateway.crd_detection import (
    NO_GATEWAY_CONTROLLERS,
    CrdDetectionError,
    GatewayControllers,
    detect_gateway_controllers,
)
from controller.gateway.resources import GATEWAY_API_GROUP, LBC_GATEWAY_GROUP
from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.httpserver import BindAddress
from framework.kube import KubeApiError, KubeClient, KubeError, Resource
from framework.leaderelection import LeaderElectionSettings
from framework.manager import ManagerSettings

SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# The custom resources we watch: each must be served before the informers can sync.
CUSTOM_RESOURCES: tuple[Resource, ...] = (TARGET_GROUP_BINDINGS, INGRESS_CLASS_PARAMS)
INSTALL_CRDS_COMMAND = "kubectl apply -k config/crd"
INSTALL_GATEWAY_CRDS_COMMAND = "kubectl apply -k config/crd/gateway"
GATEWAY_API_RELEASE = "v1.6.3"
"""The Gateway API release whose CRDs we are built and tested against (tools/gateway-api/fetch.sh)."""
# The Gateway API project's own install of its standard channel, as upstream's guide tells users.
INSTALL_GATEWAY_API_COMMAND = (
    "kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/"
    f"{GATEWAY_API_RELEASE}/standard-install.yaml"
)
CRD_CHECK_TIMEOUT_S = 10.0


class ControllerStartupError(RuntimeError):
    """The process cannot start (bad environment, unreachable AWS, unknown VPC)."""


def aws_settings_from(config: ControllerSettings) -> AwsSettings:
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


def leader_election_namespace(config: ControllerSettings) -> str:
    """Upstream's default is the pod's own namespace; off-cluster we fall back to kube-system."""
    if config.leader_election_namespace:
        return config.leader_election_namespace
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip()
    return "kube-system"


def manager_settings(config: ControllerSettings) -> ManagerSettings:
    leader_election = None
    if config.enable_leader_election:
        leader_election = LeaderElectionSettings(
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


async def gateway_controllers(kube: KubeClient, config: ControllerSettings) -> GatewayControllers:
    """The Gateway controllers to run (``ALBGatewayAPI``/``NLBGatewayAPI``, defaulted ones only when
    their CRDs are served); upstream likewise exits when discovery fails."""
    try:
        return await detect_gateway_controllers(kube, config)
    except CrdDetectionError as error:
        raise ControllerStartupError(str(error)) from None


def _not_installed(resource: Resource, gateways: GatewayControllers) -> ControllerStartupError:
    if resource.group == GATEWAY_API_GROUP:
        install = INSTALL_GATEWAY_API_COMMAND
    elif resource.group == LBC_GATEWAY_GROUP:
        install = INSTALL_GATEWAY_CRDS_COMMAND
    else:
        install = INSTALL_CRDS_COMMAND
    # A Gateway kind is checked only because a gate is on: installing and turning it off both work.
    gates = gateways.gates_requiring(resource)
    turn_off = f" or turn off the {' and '.join(gates)} feature gate{'s' if len(gates) > 1 else ''}"
    return ControllerStartupError(
        f"the {resource.kind} CRD ({resource.plural}.{resource.group}, version {resource.version}) "
        f"is not installed in the cluster; install it with `{install}`{turn_off if gates else ''}"
    )


async def require_custom_resources(
    kube: KubeClient, namespace: str | None, gateways: GatewayControllers = NO_GATEWAY_CONTROLLERS
) -> None:
    """Fail at once, naming the CRD and how to install it, when a custom resource we watch is not
    served. Its informer would otherwise retry the 404 until the cache-sync timeout (two minutes)
    and then say only that it timed out; controller-runtime likewise refuses to start when a
    watched kind is unknown to the API server. The Gateway kinds are checked only for the Gateway
    controllers that run (see ``gateway_controllers``)."""
    for resource in (*CUSTOM_RESOURCES, *gateways.required_resources):
        try:
            scope = namespace if resource.namespaced else None
            await kube.list(resource, scope, query=[("limit", "1")], request_timeout=CRD_CHECK_TIMEOUT_S)
        except KubeApiError as error:
            if error.is_not_found:
                raise _not_installed(resource, gateways) from None
            raise ControllerStartupError(f"cannot list {resource.plural}.{resource.group}: {error}") from None
        except KubeError as error:
            raise ControllerStartupError(f"cannot reach the Kubernetes API: {error}") from None


def instance_name() -> str:
    """This replica's name for Events and the Lease: the pod's name, else the host's."""
    return os.environ.get("POD_NAME") or os.uname().nodename
