"""Command-line configuration with upstream's flag names, defaults and start-up validation.

Users migrate from the AWS Load Balancer Controller by reusing their Helm values, so every flag
here keeps upstream's name, value syntax and default. ``--max-port-ranges-per-source`` is ours
(see docs/design.md, Difference 4); ``R=1`` reproduces upstream's single min-max range.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence

from controller.aws.tag_rules import tag_problem
from controller.flagtypes import (
    BOOLEAN,
    DURATION,
    STRING_LIST,
    STRING_MAP,
    FlagHelpFormatter,
    FlagParser,
    add_flags,
    flag,
    named_parser,
    parse_bind_address,
    parse_bool_map,
)
from controller.naming import TRACKING_TAG_KEYS

DEFAULT_FEATURE_GATES: Mapping[str, bool] = {
    "NLBSecurityGroup": True,
    "EnableDefaultTagsLowPriority": False,
    "EnableIPTargetType": True,
    "EnableServiceController": True,
    "NLBHealthCheckAdvancedConfig": True,
    # The Gateway controllers; a gate left at its default is turned off when the cluster lacks the
    # CRDs its controller watches (controller/gateway/crd_detection.py), one set explicitly is obeyed.
    "ALBGatewayAPI": True,
    "NLBGatewayAPI": True,
}

DEFAULT_SG_RULES_QUOTA = 60
"""AWS's default "Inbound or outbound rules per security group" quota."""

_FEATURE_GATES = named_parser("feature-gates", parse_bool_map)


def _region_from_environment() -> str:
    return os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", ""))


def _kubeconfig_from_environment() -> str:
    return os.environ.get("KUBECONFIG", "")


class ConfigError(ValueError):
    """The flags are valid one by one but not together (upstream's start-up validation)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ControllerSettings:
    """Every setting of the controller process; built once from flags, then read-only.

    Each field is its flag (``--`` and the field name with dashes): its default and ``--help`` text
    are written here once, and ``build_parser`` generates the command line from them.
    """

    cluster_name: str = flag("Kubernetes cluster name (required)", default="")
    # AWS
    aws_region: str = flag(
        "AWS Region for the kubernetes cluster; the default comes from $AWS_REGION or $AWS_DEFAULT_REGION",
        default_factory=_region_from_environment,
    )
    aws_vpc_id: str = flag(
        "AWS VpcID for the LoadBalancer resources; all SG lookups are scoped to it", default=""
    )
    aws_vpc_tags: Mapping[str, str] = flag(
        "AWS VPC tags to find the VPC by when --aws-vpc-id is not set, format: key1=value1,key2=value2",
        default_factory=dict,
        parse=STRING_MAP,
    )
    aws_api_endpoints: Mapping[str, str] = flag(
        "Custom AWS endpoint configuration, format: ec2=URL,elasticloadbalancing=URL "
        "($AWS_ENDPOINT_URL also works)",
        default_factory=dict,
        parse=STRING_MAP,
    )
    aws_max_retries: int = flag("Maximum retries for AWS APIs", default=10, parse=int)
    aws_api_throttle: str = flag(
        "Client-side throttles for AWS APIs, format: serviceID:operationRegex=rate:burst,... "
        "(each matching operation gets its own bucket; a service named here replaces its built-in "
        "rules, which leave a fifth of each of AWS's per-API buckets to other clients)",
        default="",
    )
    # Security groups
    enable_backend_security_group: bool = flag(
        "Enable sharing of one backend security group by all load balancers", default=True, parse=BOOLEAN
    )
    backend_security_group: str = flag(
        "Backend security group id (sg-...) to use for the ingress rules on the worker node SG; "
        "empty: the controller creates one",
        default="",
    )
    enable_manage_backend_security_group_rules: bool = flag(
        "Enable managing of node/pod security group rules for load balancers with custom frontend SGs",
        default=False,
        parse=BOOLEAN,
    )
    disable_restricted_sg_rules: bool = flag(
        "Open all ports instead of only the needed ones", default=False, parse=BOOLEAN
    )
    max_port_ranges_per_source: int = flag(
        "Pack the needed ports of one (SG, protocol, source) into at most this many rules; 1 = upstream",
        default=8,
        parse=int,
    )
    endpoint_sg_coalesce_window: float = flag(
        "How long a node/ENI SG waits after a change of its wanted rules before it is reconciled, so "
        "a burst of changes (a cold start, a rollout) costs one Authorize/Revoke pass, not one per "
        "change; 0 reconciles at once",
        default=2.0,
        parse=DURATION,
    )
    sg_rules_quota: int = flag(
        "Inbound rules per security group (AWS's quota, counted as AWS does: each CIDR, source SG and "
        "prefix list is one rule) that the controller keeps every SG it adds rules to within",
        default=DEFAULT_SG_RULES_QUOTA,
        parse=int,
    )
    service_target_eni_security_group_tags: Mapping[str, str] = flag(
        "AWS tags, in addition to the cluster tag, for finding the target ENI security group that gets "
        "the inbound rules from NLBs, format: key1=value1,key2=value2",
        default_factory=dict,
        parse=STRING_MAP,
    )
    default_tags: Mapping[str, str] = flag(
        "Default AWS tags applied to all AWS resources this controller manages, format: key1=value1,key2=value2",
        default_factory=dict,
        parse=STRING_MAP,
    )
    external_managed_tags: tuple[str, ...] = flag(
        "Tag keys on AWS resources that are managed externally (never set or removed by us), comma-separated",
        default=(),
        parse=STRING_LIST,
    )
    # Load balancers
    ingress_class: str = flag("Name of the ingress class this controller satisfies", default="alb")
    load_balancer_class: str = flag(
        "Name of the load balancer class of the Services this controller reconciles",
        default="service.k8s.aws/nlb",
    )
    default_target_type: str = flag(
        "Default target type for Ingresses and Services", default="instance", choices=("instance", "ip")
    )
    default_load_balancer_scheme: str = flag(
        "Default scheme for load balancers", default="internal", choices=("internal", "internet-facing")
    )
    default_ssl_policy: str = flag(
        "Default SSL policy for load balancers listeners",
        default="ELBSecurityPolicy-2016-08",
    )
    # Controllers
    ingress_max_concurrent_reconciles: int = flag(
        "Maximum number of concurrently running reconcile loops for ingress", default=3, parse=int
    )
    service_max_concurrent_reconciles: int = flag(
        "Maximum number of concurrently running reconcile loops for service", default=3, parse=int
    )
    targetgroupbinding_max_concurrent_reconciles: int = flag(
        "Maximum number of concurrently running reconcile loops for targetgroupbinding", default=3, parse=int
    )
    targetgroupbinding_max_exponential_backoff_delay: float = flag(
        "Maximum duration of exponential backoff for targetGroupBinding reconcile failures",
        default=1000.0,
        parse=DURATION,
    )
    targetgroupbinding_requeue_duration: float = flag(
        "Duration after which a TargetGroupBinding waiting for AWS is reconciled again",
        default=15.0,
        parse=DURATION,
    )
    sync_period: float = flag(
        "Period at which every object and every tracked security group is checked again",
        default=10 * 3600.0,
        parse=DURATION,
    )
    watch_namespace: str = flag("Namespace to watch; empty: all namespaces", default="")
    feature_gates: Mapping[str, bool] = flag(
        "key=bool pairs that enable or disable features: " + ", ".join(DEFAULT_FEATURE_GATES),
        default_factory=dict,
        parse=_FEATURE_GATES,
    )
    # Process
    kubeconfig: str = flag(
        "Path to the kubeconfig file; the default comes from $KUBECONFIG; empty: in-cluster "
        "service account, else ~/.kube/config",
        default_factory=_kubeconfig_from_environment,
    )
    enable_leader_election: bool = flag(
        "Elect a leader among replicas with a Lease, so only one replica reconciles",
        default=True,
        parse=BOOLEAN,
    )
    leader_election_id: str = flag(
        "Name of the leader election Lease", default="aws-load-balancer-controller-leader"
    )
    leader_election_namespace: str = flag(
        "Namespace of the leader election Lease; empty: the pod's own namespace ($POD_NAMESPACE or the "
        "service account's), else kube-system",
        default="",
    )
    metrics_bind_addr: str = flag(
        "The address the metrics endpoint binds to (host:port or :port; 0 disables)",
        default=":8080",
        parse=parse_bind_address,
    )
    health_probe_bind_addr: str = flag(
        "The address the health probes bind to (host:port or :port; 0 disables)",
        default=":61779",
        parse=parse_bind_address,
    )
    log_level: str = flag("Log level", default="info", choices=("debug", "info", "warn", "error"))

    def feature_enabled(self, gate: str) -> bool:
        return self.feature_gates.get(gate, DEFAULT_FEATURE_GATES.get(gate, False))


def build_parser() -> argparse.ArgumentParser:
    parser = FlagParser(
        prog="aws-lb-sg-controller",
        usage="%(prog)s --cluster-name=NAME [--flag=value ...]",
        description="Gives AWS load balancers their security groups, like the AWS Load Balancer Controller.",
        formatter_class=FlagHelpFormatter,
    )
    add_flags(parser, ControllerSettings)
    return parser


def validate(config: ControllerSettings) -> None:
    """Upstream's start-up checks, plus ours for ``--max-port-ranges-per-source``."""
    if not config.cluster_name:
        raise ConfigError("kubernetes cluster name must be specified (--cluster-name)")
    if config.backend_security_group and not config.backend_security_group.startswith("sg-"):
        raise ConfigError(
            f"invalid value {config.backend_security_group!r} for --backend-security-group: must start with sg-"
        )
    if config.enable_manage_backend_security_group_rules and not config.enable_backend_security_group:
        raise ConfigError(
            "backend security group must be enabled when backend security group rule management is enabled"
        )
    if config.max_port_ranges_per_source < 1:
        raise ConfigError("--max-port-ranges-per-source must be at least 1")
    if config.endpoint_sg_coalesce_window < 0:
        raise ConfigError("--endpoint-sg-coalesce-window must not be negative")
    if config.sg_rules_quota < 1:
        raise ConfigError("--sg-rules-quota must be at least 1")
    if config.aws_max_retries < 0:
        raise ConfigError("--aws-max-retries must not be negative")
    for name, value in (
        ("--ingress-max-concurrent-reconciles", config.ingress_max_concurrent_reconciles),
        ("--service-max-concurrent-reconciles", config.service_max_concurrent_reconciles),
        (
            "--targetgroupbinding-max-concurrent-reconciles",
            config.targetgroupbinding_max_concurrent_reconciles,
        ),
    ):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1")
    tracked_default = sorted(TRACKING_TAG_KEYS & set(config.default_tags))
    if tracked_default:
        raise ConfigError(f"tag keys {tracked_default} in --default-tags are reserved for tracking")
    for tag_key, tag_value in config.default_tags.items():
        # Every resource we create carries these: refuse at start-up what EC2 or ELBv2 would refuse.
        problem = tag_problem(tag_key, tag_value)
        if problem is not None:
            raise ConfigError(f"invalid --default-tags: {problem}")
    tracked_external = sorted(TRACKING_TAG_KEYS & set(config.external_managed_tags))
    if tracked_external:
        raise ConfigError(f"tag keys {tracked_external} in --external-managed-tags are reserved for tracking")
    shared = sorted(set(config.default_tags) & set(config.external_managed_tags))
    if shared:
        raise ConfigError(f"tag keys {shared} cannot be both in --default-tags and --external-managed-tags")
    unknown_gates = sorted(set(config.feature_gates) - set(DEFAULT_FEATURE_GATES))
    if unknown_gates:
        raise ConfigError(f"unknown feature gates {unknown_gates}")


def parse_config(argv: Sequence[str]) -> ControllerSettings:
    """Parse and validate flags; raises ``SystemExit(2)`` with a usage message on bad input."""
    parser = build_parser()
    namespace = parser.parse_args(list(argv))
    config = ControllerSettings(**vars(namespace))
    try:
        validate(config)
    except ConfigError as error:
        parser.error(str(error))
    return config
