"""Command-line configuration with upstream's flag names, defaults and start-up validation.

Users migrate from the AWS Load Balancer Controller by reusing their Helm values, so every flag
here keeps upstream's name, value syntax and default. ``--max-port-ranges-per-source`` is ours
(see docs/design.md, Difference 4); ``R=1`` reproduces upstream's single min-max range.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from controller.aws.tag_rules import tag_problem
from controller.flagtypes import (
    format_duration,
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


def _bind_address(text: str) -> str:
    """Check an upstream-style bind address (``:8080``, ``127.0.0.1:0``, ``[::1]:9090``, ``0``) at
    parse time, so a typo is a usage error instead of a failure after start-up; kept as text."""
    # Imported here: the HTTP server module pulls in aiohttp, which `--help` does not need.
    from framework.httpserver import BindAddress

    try:
        BindAddress.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error} (use host:port, :port, or 0 to disable)") from None
    return text


def show_default(action: argparse.Action) -> str:
    """An action's default written the way the flag accepts it (Go syntax for booleans,
    durations, maps and lists); ``""`` for an empty value."""
    default = action.default
    kind = getattr(action.type, "__name__", "")
    if isinstance(default, bool):
        return "true" if default else "false"
    if kind == "duration" and isinstance(default, float):
        return format_duration(default)
    if isinstance(default, Mapping):
        text = ",".join(f"{key}={value}" for key, value in default.items())
    elif isinstance(default, tuple | list):
        text = ",".join(str(item) for item in default)
    else:
        text = str(default)
    return text or '""'


class _HelpFormatter(argparse.HelpFormatter):
    """Every flag's help ends with its default, so ``--help`` answers "what if I leave it out"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is argparse.SUPPRESS:
            return text
        # argparse %-formats help strings: a literal % in a default must be doubled.
        return f"{text} (default: {show_default(action).replace('%', '%%')})"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break inside a hyphenated value: "aws-load-\nbalancer-..." cannot be copied back.
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _FlagParser(argparse.ArgumentParser):
    """Flag errors are one line on stderr (exit 2): the usage summary of forty flags would bury
    the one thing that is wrong."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _FlagParser(
        prog="aws-lb-sg-controller",
        usage="%(prog)s --cluster-name=NAME [--flag=value ...]",
        description="Gives AWS load balancers their security groups, like the AWS Load Balancer Controller.",
        formatter_class=_HelpFormatter,
    )
    boolean = _typed(parse_bool, "boolean")
    duration = _typed(parse_duration, "duration")
    string_map = _typed(parse_string_map, "key=value list")
    string_list = _typed(parse_string_list, "comma-separated list")
    bool_map = _typed(parse_bool_map, "feature-gates")

    def flag(name: str, help_text: str, **options: Any) -> None:
        parser.add_argument(name, help=help_text, **options)

    def flag_bool(name: str, default: bool, help_text: str) -> None:
        # `--flag` alone means true, as with Go's pflag booleans; `--flag=false` turns it off.
        parser.add_argument(name, type=boolean, nargs="?", const=True, default=default, help=help_text)

    flag("--cluster-name", "Kubernetes cluster name (required)", default="")
    flag(
        "--aws-region",
        "AWS Region for the kubernetes cluster; the default comes from $AWS_REGION or $AWS_DEFAULT_REGION",
        default=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "")),
    )
    flag(
        "--aws-vpc-id",
        "AWS VpcID for the LoadBalancer resources; all SG lookups are scoped to it",
        default="",
    )
    flag(
        "--aws-vpc-tags",
        "AWS VPC tags to find the VPC by when --aws-vpc-id is not set, format: key1=value1,key2=value2",
        type=string_map,
        default={},
    )
    flag(
        "--aws-api-endpoints",
        "Custom AWS endpoint configuration, format: ec2=URL,elasticloadbalancing=URL "
        "($AWS_ENDPOINT_URL also works)",
        type=string_map,
        default={},
    )
    flag("--aws-max-retries", "Maximum retries for AWS APIs", type=int, default=10)
    flag(
        "--aws-api-throttle",
        "Client-side throttles for AWS APIs, format: serviceID:operationRegex=rate:burst,... "
        "(merged over the built-in ones)",
        default="",
    )
    flag_bool(
        "--enable-backend-security-group",
        True,
        "Enable sharing of one backend security group by all load balancers",
    )
    flag(
        "--backend-security-group",
        "Backend security group id (sg-...) to use for the ingress rules on the worker node SG; "
        "empty: the controller creates one",
        default="",
    )
    flag_bool(
        "--enable-manage-backend-security-group-rules",
        False,
        "Enable managing of node/pod security group rules for load balancers with custom frontend SGs",
    )
    flag_bool("--disable-restricted-sg-rules", False, "Open all ports instead of only the needed ones")
    flag(
        "--max-port-ranges-per-source",
        "Pack the needed ports of one (SG, protocol, source) into at most this many rules; 1 = upstream",
        type=int,
        default=8,
    )
    flag(
        "--service-target-eni-security-group-tags",
        "AWS tags, in addition to the cluster tag, for finding the target ENI security group that gets "
        "the inbound rules from NLBs, format: key1=value1,key2=value2",
        type=string_map,
        default={},
    )
    flag(
        "--default-tags",
        "Default AWS tags applied to all AWS resources this controller manages, format: key1=value1,key2=value2",
        type=string_map,
        default={},
    )
    flag(
        "--external-managed-tags",
        "Tag keys on AWS resources that are managed externally (never set or removed by us), comma-separated",
        type=string_list,
        default=(),
    )
    flag("--ingress-class", "Name of the ingress class this controller satisfies", default="alb")
    flag(
        "--load-balancer-class",
        "Name of the load balancer class of the Services this controller reconciles",
        default="service.k8s.aws/nlb",
    )
    flag(
        "--default-target-type",
        "Default target type for Ingresses and Services",
        default="instance",
        choices=("instance", "ip"),
    )
    flag(
        "--default-load-balancer-scheme",
        "Default scheme for load balancers",
        default="internal",
        choices=("internal", "internet-facing"),
    )
    for kind in ("ingress", "service", "targetgroupbinding"):
        flag(
            f"--{kind}-max-concurrent-reconciles",
            f"Maximum number of concurrently running reconcile loops for {kind}",
            type=int,
            default=3,
        )
    flag(
        "--targetgroupbinding-max-exponential-backoff-delay",
        "Maximum duration of exponential backoff for targetGroupBinding reconcile failures",
        type=duration,
        default=1000.0,
    )
    flag(
        "--targetgroupbinding-requeue-duration",
        "Duration after which a TargetGroupBinding waiting for AWS is reconciled again",
        type=duration,
        default=15.0,
    )
    flag(
        "--sync-period",
        "Period at which every object and every tracked security group is checked again",
        type=duration,
        default=10 * 3600.0,
    )
    flag("--watch-namespace", "Namespace to watch; empty: all namespaces", default="")
    flag(
        "--feature-gates",
        "key=bool pairs that enable or disable features: " + ", ".join(DEFAULT_FEATURE_GATES),
        type=bool_map,
        default={},
    )
    flag(
        "--kubeconfig",
        "Path to the kubeconfig file; the default comes from $KUBECONFIG; empty: in-cluster "
        "service account, else ~/.kube/config",
        default=os.environ.get("KUBECONFIG", ""),
    )
    flag_bool(
        "--enable-leader-election",
        True,
        "Elect a leader among replicas with a Lease, so only one replica reconciles",
    )
    flag(
        "--leader-election-id",
        "Name of the leader election Lease",
        default="aws-load-balancer-controller-leader",
    )
    flag(
        "--leader-election-namespace",
        "Namespace of the leader election Lease; empty: the pod's own namespace ($POD_NAMESPACE or the "
        "service account's), else kube-system",
        default="",
    )
    flag(
        "--metrics-bind-addr",
        "The address the metrics endpoint binds to (host:port or :port; 0 disables)",
        type=_bind_address,
        default=":8080",
    )
    flag(
        "--health-probe-bind-addr",
        "The address the health probes bind to (host:port or :port; 0 disables)",
        type=_bind_address,
        default=":61779",
    )
    flag("--log-level", "Log level", default="info", choices=("debug", "info", "warn", "error"))
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
