"""Command-line configuration with upstream's flag names, defaults and start-up validation.

Users migrate from the AWS Load Balancer Controller by reusing their Helm values, so every flag
here keeps upstream's name, value syntax and default. ``--max-port-ranges-per-source`` is ours
(see DESIGN.md, deliberate difference 4); ``R=1`` reproduces upstream's single min-max range.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from controller.flagtypes import (
    parse_bool,
    parse_bool_map,
    parse_duration,
    parse_string_list,
    parse_string_map,
)
from controller.naming import TRACKING_TAG_KEYS

T = TypeVar("T")

DEFAULT_FEATURE_GATES: Mapping[str, bool] = {
    "NLBSecurityGroup": True,
    "EnableDefaultTagsLowPriority": False,
    "EnableIPTargetType": True,
    "EnableServiceController": True,
}


class ConfigError(ValueError):
    """The flags are valid one by one but not together (upstream's start-up validation)."""


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
    """Every setting of the controller process; built once from flags, then read-only."""

    cluster_name: str
    # AWS
    aws_region: str
    aws_vpc_id: str
    aws_vpc_tags: Mapping[str, str]
    aws_api_endpoints: Mapping[str, str]
    aws_max_retries: int
    aws_api_throttle: str
    # Security groups
    enable_backend_security_group: bool
    backend_security_group: str
    enable_manage_backend_security_group_rules: bool
    disable_restricted_sg_rules: bool
    max_port_ranges_per_source: int
    service_target_eni_security_group_tags: Mapping[str, str]
    default_tags: Mapping[str, str]
    external_managed_tags: tuple[str, ...]
    # Load balancers
    ingress_class: str
    load_balancer_class: str
    default_target_type: str
    default_load_balancer_scheme: str
    # Controllers
    ingress_max_concurrent_reconciles: int
    service_max_concurrent_reconciles: int
    targetgroupbinding_max_concurrent_reconciles: int
    targetgroupbinding_max_exponential_backoff_delay: float
    targetgroupbinding_requeue_duration: float
    sync_period: float
    watch_namespace: str
    feature_gates: Mapping[str, bool]
    # Process
    kubeconfig: str
    enable_leader_election: bool
    leader_election_id: str
    leader_election_namespace: str
    metrics_bind_addr: str
    health_probe_bind_addr: str
    log_level: str

    def feature_enabled(self, gate: str) -> bool:
        return self.feature_gates.get(gate, DEFAULT_FEATURE_GATES.get(gate, False))


def _typed(parse: Callable[[str], T], kind: str) -> Callable[[str], T]:
    """Wrap a parser so argparse reports ``invalid <kind> value: '<text>'``."""

    def convert(text: str) -> T:
        return parse(text)

    convert.__name__ = kind
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aws-lb-sg-controller",
        description="Gives AWS load balancers their security groups, like the AWS Load Balancer Controller.",
    )
    boolean = _typed(parse_bool, "boolean")
    duration = _typed(parse_duration, "duration")
    string_map = _typed(parse_string_map, "key=value list")
    string_list = _typed(parse_string_list, "comma-separated list")
    bool_map = _typed(parse_bool_map, "feature-gates")

    def flag_bool(name: str, default: bool, help_text: str) -> None:
        # `--flag` alone means true, as with Go's pflag booleans; `--flag=false` turns it off.
        parser.add_argument(name, type=boolean, nargs="?", const=True, default=default, help=help_text)

    parser.add_argument("--cluster-name", default="", help="Kubernetes cluster name (required)")
    parser.add_argument(
        "--aws-region", default=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", ""))
    )
    parser.add_argument(
        "--aws-vpc-id", default="", help="VPC of the cluster; all SG lookups are scoped to it"
    )
    parser.add_argument("--aws-vpc-tags", type=string_map, default={}, help="tags to find the VPC by")
    parser.add_argument(
        "--aws-api-endpoints",
        type=string_map,
        default={},
        help="custom endpoints, e.g. ec2=https://...,elasticloadbalancing=https://... (AWS_ENDPOINT_URL also works)",
    )
    parser.add_argument("--aws-max-retries", type=int, default=10)
    parser.add_argument(
        "--aws-api-throttle",
        default="",
        help="client-side throttles: serviceID:operationRegex=rate:burst,... (merged over the defaults)",
    )
    flag_bool("--enable-backend-security-group", True, "use one shared backend SG for all load balancers")
    parser.add_argument("--backend-security-group", default="", help="use this SG as the backend SG (sg-...)")
    flag_bool(
        "--enable-manage-backend-security-group-rules",
        False,
        "manage node/pod SG rules for LBs with custom frontend SGs",
    )
    flag_bool("--disable-restricted-sg-rules", False, "open all ports instead of the needed ones")
    parser.add_argument(
        "--max-port-ranges-per-source",
        type=int,
        default=8,
        help="pack the needed ports of one (SG, protocol, source) into at most this many rules; 1 = upstream",
    )
    parser.add_argument("--service-target-eni-security-group-tags", type=string_map, default={})
    parser.add_argument("--default-tags", type=string_map, default={})
    parser.add_argument("--external-managed-tags", type=string_list, default=())
    parser.add_argument("--ingress-class", default="alb")
    parser.add_argument("--load-balancer-class", default="service.k8s.aws/nlb")
    parser.add_argument("--default-target-type", default="instance", choices=("instance", "ip"))
    parser.add_argument(
        "--default-load-balancer-scheme", default="internal", choices=("internal", "internet-facing")
    )
    parser.add_argument("--ingress-max-concurrent-reconciles", type=int, default=3)
    parser.add_argument("--service-max-concurrent-reconciles", type=int, default=3)
    parser.add_argument("--targetgroupbinding-max-concurrent-reconciles", type=int, default=3)
    parser.add_argument("--targetgroupbinding-max-exponential-backoff-delay", type=duration, default=1000.0)
    parser.add_argument("--targetgroupbinding-requeue-duration", type=duration, default=15.0)
    parser.add_argument("--sync-period", type=duration, default=10 * 3600.0)
    parser.add_argument("--watch-namespace", default="", help="watch only this namespace (default: all)")
    parser.add_argument("--feature-gates", type=bool_map, default={})
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", ""))
    flag_bool("--enable-leader-election", True, "elect a leader among replicas with a Lease")
    parser.add_argument("--leader-election-id", default="aws-load-balancer-controller-leader")
    parser.add_argument("--leader-election-namespace", default="")
    parser.add_argument("--metrics-bind-addr", default=":8080")
    parser.add_argument("--health-probe-bind-addr", default=":61779")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warn", "error"))
    return parser


def validate(config: ControllerConfig) -> None:
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
    if config.aws_max_retries < 0:
        raise ConfigError("--aws-max-retries must not be negative")
    for flag, value in (
        ("--ingress-max-concurrent-reconciles", config.ingress_max_concurrent_reconciles),
        ("--service-max-concurrent-reconciles", config.service_max_concurrent_reconciles),
        (
            "--targetgroupbinding-max-concurrent-reconciles",
            config.targetgroupbinding_max_concurrent_reconciles,
        ),
    ):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1")
    tracked_default = sorted(TRACKING_TAG_KEYS & set(config.default_tags))
    if tracked_default:
        raise ConfigError(f"tag keys {tracked_default} in --default-tags are reserved for tracking")
    tracked_external = sorted(TRACKING_TAG_KEYS & set(config.external_managed_tags))
    if tracked_external:
        raise ConfigError(f"tag keys {tracked_external} in --external-managed-tags are reserved for tracking")
    shared = sorted(set(config.default_tags) & set(config.external_managed_tags))
    if shared:
        raise ConfigError(f"tag keys {shared} cannot be both in --default-tags and --external-managed-tags")
    unknown_gates = sorted(set(config.feature_gates) - set(DEFAULT_FEATURE_GATES))
    if unknown_gates:
        raise ConfigError(f"unknown feature gates {unknown_gates}")


def parse_config(argv: Sequence[str]) -> ControllerConfig:
    """Parse and validate flags; raises ``SystemExit(2)`` with a usage message on bad input."""
    parser = build_parser()
    namespace = parser.parse_args(list(argv))
    config = ControllerConfig(**vars(namespace))
    try:
        validate(config)
    except ConfigError as error:
        parser.error(str(error))
    return config
