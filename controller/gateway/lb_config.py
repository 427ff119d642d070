"""A Gateway's ``LoadBalancerConfiguration``: the GatewayClass's and the Gateway's, merged as upstream merges them.

The GatewayClass names one with ``spec.parametersRef`` (group ``gateway.k8s.aws``, kind
``LoadBalancerConfiguration``, its own ``namespace``), the Gateway with
``spec.infrastructure.parametersRef`` (in the Gateway's namespace). When both exist, the class's
``mergingMode`` (default ``prefer-gateway-class``) says whose fields win: a field set on the winner
is taken whole (lists are not joined), otherwise the other's; ``tags`` and ``listenerConfigurations``
(by ``protocolPort``) are merged key by key, the winner's value first.

Only the fields this controller acts on are read (the rest, WAF, Shield, IPAM pools..., are upstream
features we do not implement and are ignored, as unknown annotations are). The values are checked
here, before anything reaches AWS: an invalid CIDR or tag names the configuration, the field and the
value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.annotations import InvalidObjectError, ModelBuildError, ObjectRef, ParsedCidrs, parse_cidrs
from controller.aws.tag_rules import tag_problem
from controller.gateway.resources import LBC_GATEWAY_GROUP
from framework.objects import name_of, namespace_of

KIND: Final = "LoadBalancerConfiguration"
PREFER_GATEWAY: Final = "prefer-gateway"
PREFER_GATEWAY_CLASS: Final = "prefer-gateway-class"

_TAKE_ONE_FIELDS: Final = (
    "loadBalancerName",
    "scheme",
    "ipAddressType",
    "securityGroups",
    "securityGroupPrefixes",
    "sourceRanges",
    "enableICMP",
    "manageBackendSecurityGroupRules",
    "disableSecurityGroup",
    "loadBalancerSubnets",
)


class MissingLoadBalancerConfigurationError(ModelBuildError):
    """A parametersRef names a LoadBalancerConfiguration that does not exist (yet): retried, as
    it may be created after the Gateway."""

    retryable = True


@dataclass(frozen=True)
class ListenerConfiguration:
    """One ``listenerConfigurations`` entry (``protocolPort`` ``HTTPS:443``...)."""

    protocol_port: str
    default_certificate: str | None = None
    certificates: tuple[str, ...] = ()
    ssl_policy: str | None = None
    alpn_policy: str | None = None


@dataclass(frozen=True)
class GatewayLbConfig:
    """The merged configuration of one Gateway; ``None`` fields were set by neither."""

    source: tuple[ObjectRef, ...] = ()
    """The configurations it was merged from."""
    origins: Mapping[str, ObjectRef] = field(default_factory=dict)
    """Field name (``securityGroups``...) → the configuration its value came from (named in errors)."""
    load_balancer_name: str | None = None
    scheme: str | None = None
    ip_address_type: str | None = None
    security_groups: tuple[str, ...] | None = None
    security_group_prefixes: tuple[str, ...] | None = None
    source_ranges: ParsedCidrs | None = None
    enable_icmp: bool = False
    manage_backend_security_group_rules: bool | None = None
    disable_security_group: bool = False
    subnets: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    listener_configurations: Mapping[str, ListenerConfiguration] = field(default_factory=dict)

    def listener(self, protocol: str, port: int) -> ListenerConfiguration | None:
        return self.listener_configurations.get(f"{protocol}:{port}")


def parameters_ref(obj: Mapping[str, Any], path: Sequence[str]) -> tuple[str, str | None] | None:
    """``(name, namespace)`` of the LoadBalancerConfiguration ``obj`` names at ``path`` (None when it
    names none, or names another kind: upstream ignores other kinds)."""
    ref: Any = obj
    for key in path:
        ref = (ref or {}).get(key) if isinstance(ref, Mapping) else None
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    if ref.get("group") != LBC_GATEWAY_GROUP or ref.get("kind") != KIND:
        return None
    namespace = ref.get("namespace")
    return str(ref["name"]), str(namespace) if namespace else None


GetConfig = Callable[[str], Mapping[str, Any] | None]
"""Looks a LoadBalancerConfiguration up by ``namespace/name`` (the informer store)."""


def gateway_lb_config(
    gateway_class: Mapping[str, Any] | None, gateway: Mapping[str, Any], get: GetConfig
) -> GatewayLbConfig:
    """The merged configuration of ``gateway``; raises ``ModelBuildError`` naming what is wrong."""
    class_config = _lookup(
        gateway_class,
        ("spec", "parametersRef"),
        None,
        get,
        ObjectRef("GatewayClass", "", name_of(gateway_class or {})),
    )
    gateway_config = _lookup(
        gateway,
        ("spec", "infrastructure", "parametersRef"),
        namespace_of(gateway),
        get,
        ObjectRef.of("Gateway", gateway),
    )
    return merge(class_config, gateway_config)


def _lookup(
    obj: Mapping[str, Any] | None,
    path: Sequence[str],
    default_namespace: str | None,
    get: GetConfig,
    owner: ObjectRef,
) -> Mapping[str, Any] | None:
    if obj is None:
        return None
    ref = parameters_ref(obj, path)
    if ref is None:
        return None
    name, namespace = ref
    namespace = default_namespace or namespace or ""
    found = get(f"{namespace}/{name}")
    if found is None:
        raise MissingLoadBalancerConfigurationError(
            f"{owner}: {'.'.join(path)} names {KIND} {namespace}/{name}, which does not exist", [owner]
        )
    return found


def merge(
    class_config: Mapping[str, Any] | None, gateway_config: Mapping[str, Any] | None
) -> GatewayLbConfig:
    """Upstream's merge (see the module docstring), then parsed and checked."""
    class_spec = dict((class_config or {}).get("spec") or {})
    gateway_spec = dict((gateway_config or {}).get("spec") or {})
    if class_spec.get("mergingMode") == PREFER_GATEWAY:
        high, low = (gateway_spec, gateway_config), (class_spec, class_config)
    else:
        high, low = (class_spec, class_config), (gateway_spec, gateway_config)
    merged: dict[str, Any] = {}
    origin: dict[str, ObjectRef] = {}
    for key in _TAKE_ONE_FIELDS:
        for spec, obj in (high, low):
            if spec.get(key) is not None:
                merged[key] = spec[key]
                origin[key] = _ref(obj)
                break
    tags: dict[str, str] = {}
    listeners: dict[str, Mapping[str, Any]] = {}
    listener_origin: dict[str, ObjectRef] = {}
    tag_origin: dict[str, ObjectRef] = {}
    for spec, obj in (high, low):
        for key, value in (spec.get("tags") or {}).items():
            if str(key) not in tags:
                tags[str(key)] = str(value)
                tag_origin[str(key)] = _ref(obj)
        for entry in spec.get("listenerConfigurations") or ():
            protocol_port = str(entry.get("protocolPort") or "")
            if protocol_port and protocol_port not in listeners:
                listeners[protocol_port] = entry
                listener_origin[protocol_port] = _ref(obj)
    sources = tuple(_ref(obj) for obj in (class_config, gateway_config) if obj is not None)
    return _parse(merged, origin, tags, tag_origin, listeners, listener_origin, sources)


def _ref(obj: Mapping[str, Any] | None) -> ObjectRef:
    return ObjectRef.of(KIND, obj or {})


def _strings(value: Any, ref: ObjectRef, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidObjectError(ref, f"spec.{key}", str(value), "must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _parse(
    merged: Mapping[str, Any],
    origin: Mapping[str, ObjectRef],
    tags: Mapping[str, str],
    tag_origin: Mapping[str, ObjectRef],
    listeners: Mapping[str, Mapping[str, Any]],
    listener_origin: Mapping[str, ObjectRef],
    sources: tuple[ObjectRef, ...],
) -> GatewayLbConfig:
    source_ranges = None
    if "sourceRanges" in merged:
        ref = origin["sourceRanges"]
        items = _strings(merged["sourceRanges"], ref, "sourceRanges")
        source_ranges = parse_cidrs(ref, "spec.sourceRanges", items, ", ".join(items))
    for key, value in tags.items():
        problem = tag_problem(key, value)
        if problem is not None:
            raise InvalidObjectError(tag_origin[key], "spec.tags", f"{key}={value}", problem)
    parsed_listeners = {
        protocol_port: ListenerConfiguration(
            protocol_port=protocol_port,
            default_certificate=str(entry["defaultCertificate"]) if entry.get("defaultCertificate") else None,
            certificates=_strings(
                entry.get("certificates") or [], listener_origin[protocol_port], "certificates"
            ),
            ssl_policy=str(entry["sslPolicy"]) if entry.get("sslPolicy") else None,
            alpn_policy=str(entry["alpnPolicy"]) if entry.get("alpnPolicy") not in (None, "None") else None,
        )
        for protocol_port, entry in listeners.items()
    }

    def optional_strings(key: str) -> tuple[str, ...] | None:
        return _strings(merged[key], origin[key], key) if key in merged else None

    return GatewayLbConfig(
        source=sources,
        origins=dict(origin),
        load_balancer_name=str(merged["loadBalancerName"]) if merged.get("loadBalancerName") else None,
        scheme=str(merged["scheme"]) if "scheme" in merged else None,
        ip_address_type=str(merged["ipAddressType"]) if "ipAddressType" in merged else None,
        security_groups=optional_strings("securityGroups"),
        security_group_prefixes=optional_strings("securityGroupPrefixes"),
        source_ranges=source_ranges,
        enable_icmp=merged.get("enableICMP") is True,
        manage_backend_security_group_rules=(
            bool(merged["manageBackendSecurityGroupRules"])
            if "manageBackendSecurityGroupRules" in merged
            else None
        ),
        disable_security_group=merged.get("disableSecurityGroup") is True,
        subnets=tuple(
            str(s.get("identifier")) for s in merged.get("loadBalancerSubnets") or () if s.get("identifier")
        ),
        tags=tags,
        listener_configurations=parsed_listeners,
    )
