"""Annotation keys, value parsers and the typed errors model builders raise for bad user input.

Every parser here takes the object that carries the annotation, the key and the raw value, and
either returns a parsed value or raises ``InvalidAnnotationError`` naming all three, so the
controller can post one clear ``FailedBuildModel`` Warning event and count a metric. Parsers never
raise anything else for user input (the property tests feed them arbitrary strings).

Value syntaxes follow upstream's annotation parser: comma lists are trimmed with empty items
dropped; booleans use Go's ``strconv.ParseBool``; ``k=v`` maps are comma separated.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from controller.flagtypes import parse_bool as _go_parse_bool
from framework.objects import name_of, namespace_of

INGRESS_PREFIX: Final = "alb.ingress.kubernetes.io/"
SERVICE_PREFIX: Final = "service.beta.kubernetes.io/"

# --- Ingress (alb.ingress.kubernetes.io/...) ------------------------------------------------------
ING_GROUP_NAME: Final = INGRESS_PREFIX + "group.name"
ING_GROUP_ORDER: Final = INGRESS_PREFIX + "group.order"
ING_LISTEN_PORTS: Final = INGRESS_PREFIX + "listen-ports"
ING_INBOUND_CIDRS: Final = INGRESS_PREFIX + "inbound-cidrs"
ING_PREFIX_LISTS: Final = INGRESS_PREFIX + "security-group-prefix-lists"
ING_SECURITY_GROUPS: Final = INGRESS_PREFIX + "security-groups"
ING_MANAGE_BACKEND_SG_RULES: Final = INGRESS_PREFIX + "manage-backend-security-group-rules"
ING_SCHEME: Final = INGRESS_PREFIX + "scheme"
ING_IP_ADDRESS_TYPE: Final = INGRESS_PREFIX + "ip-address-type"
ING_TARGET_TYPE: Final = INGRESS_PREFIX + "target-type"
ING_SUBNETS: Final = INGRESS_PREFIX + "subnets"
ING_HEALTHCHECK_PORT: Final = INGRESS_PREFIX + "healthcheck-port"
ING_HEALTHCHECK_PATH: Final = INGRESS_PREFIX + "healthcheck-path"
ING_HEALTHCHECK_PROTOCOL: Final = INGRESS_PREFIX + "healthcheck-protocol"
ING_HEALTHCHECK_INTERVAL_SECONDS: Final = INGRESS_PREFIX + "healthcheck-interval-seconds"
ING_HEALTHCHECK_TIMEOUT_SECONDS: Final = INGRESS_PREFIX + "healthcheck-timeout-seconds"
ING_HEALTHY_THRESHOLD_COUNT: Final = INGRESS_PREFIX + "healthy-threshold-count"
ING_UNHEALTHY_THRESHOLD_COUNT: Final = INGRESS_PREFIX + "unhealthy-threshold-count"
ING_SUCCESS_CODES: Final = INGRESS_PREFIX + "success-codes"
ING_TARGET_GROUP_ATTRIBUTES: Final = INGRESS_PREFIX + "target-group-attributes"
ING_LOAD_BALANCER_ATTRIBUTES: Final = INGRESS_PREFIX + "load-balancer-attributes"
ING_BACKEND_PROTOCOL: Final = INGRESS_PREFIX + "backend-protocol"
ING_BACKEND_PROTOCOL_VERSION: Final = INGRESS_PREFIX + "backend-protocol-version"
ING_CERTIFICATE_ARN: Final = INGRESS_PREFIX + "certificate-arn"
ING_SSL_POLICY: Final = INGRESS_PREFIX + "ssl-policy"
ING_TAGS: Final = INGRESS_PREFIX + "tags"
ING_LOAD_BALANCER_NAME: Final = INGRESS_PREFIX + "load-balancer-name"
ING_SSL_REDIRECT: Final = INGRESS_PREFIX + "ssl-redirect"
ING_ACTIONS_PREFIX: Final = INGRESS_PREFIX + "actions."
"""``actions.<name>``: the action of a backend whose ``service.name`` is ``<name>`` (port ``use-annotation``)."""
ING_CONDITIONS_PREFIX: Final = INGRESS_PREFIX + "conditions."
"""``conditions.<name>``: extra rule conditions of every backend whose ``service.name`` is ``<name>``."""

INGRESS_CLASS_ANNOTATION: Final = "kubernetes.io/ingress.class"
DEFAULT_INGRESS_CLASS_ANNOTATION: Final = "ingressclass.kubernetes.io/is-default-class"

# --- Service (service.beta.kubernetes.io/...) -----------------------------------------------------
SVC_LOAD_BALANCER_TYPE: Final = SERVICE_PREFIX + "aws-load-balancer-type"
SVC_NLB_TARGET_TYPE: Final = SERVICE_PREFIX + "aws-load-balancer-nlb-target-type"
SVC_SCHEME: Final = SERVICE_PREFIX + "aws-load-balancer-scheme"
SVC_INTERNAL: Final = SERVICE_PREFIX + "aws-load-balancer-internal"
"""Legacy boolean form of the scheme (true → internal), read only when ``SVC_SCHEME`` is absent."""
SVC_SECURITY_GROUPS: Final = SERVICE_PREFIX + "aws-load-balancer-security-groups"
SVC_MANAGE_BACKEND_SG_RULES: Final = SERVICE_PREFIX + "aws-load-balancer-manage-backend-security-group-rules"
SVC_SOURCE_RANGES: Final = SERVICE_PREFIX + "load-balancer-source-ranges"
SVC_PREFIX_LISTS: Final = SERVICE_PREFIX + "aws-load-balancer-security-group-prefix-lists"
SVC_IP_ADDRESS_TYPE: Final = SERVICE_PREFIX + "aws-load-balancer-ip-address-type"
SVC_ICMP_PATH_MTU: Final = SERVICE_PREFIX + "aws-load-balancer-enable-icmp-for-path-mtu-discovery"
SVC_HEALTHCHECK_PORT: Final = SERVICE_PREFIX + "aws-load-balancer-healthcheck-port"
SVC_HEALTHCHECK_PROTOCOL: Final = SERVICE_PREFIX + "aws-load-balancer-healthcheck-protocol"
SVC_HEALTHCHECK_PATH: Final = SERVICE_PREFIX + "aws-load-balancer-healthcheck-path"
SVC_HEALTHCHECK_INTERVAL: Final = SERVICE_PREFIX + "aws-load-balancer-healthcheck-interval"
SVC_HEALTHCHECK_TIMEOUT: Final = SERVICE_PREFIX + "aws-load-balancer-healthcheck-timeout"
SVC_HEALTHCHECK_HEALTHY_THRESHOLD: Final = SERVICE_PREFIX + "aws-load-balancer-healthcheck-healthy-threshold"
SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD: Final = (
    SERVICE_PREFIX + "aws-load-balancer-healthcheck-unhealthy-threshold"
)
SVC_HEALTHCHECK_SUCCESS_CODES: Final = SERVICE_PREFIX + "aws-load-balancer-healthcheck-success-codes"
SVC_LOAD_BALANCER_ATTRIBUTES: Final = SERVICE_PREFIX + "aws-load-balancer-attributes"
SVC_ACCESS_LOG_ENABLED: Final = SERVICE_PREFIX + "aws-load-balancer-access-log-enabled"
SVC_ACCESS_LOG_S3_BUCKET_NAME: Final = SERVICE_PREFIX + "aws-load-balancer-access-log-s3-bucket-name"
SVC_ACCESS_LOG_S3_BUCKET_PREFIX: Final = SERVICE_PREFIX + "aws-load-balancer-access-log-s3-bucket-prefix"
SVC_CROSS_ZONE_ENABLED: Final = SERVICE_PREFIX + "aws-load-balancer-cross-zone-load-balancing-enabled"
SVC_ADDITIONAL_TAGS: Final = SERVICE_PREFIX + "aws-load-balancer-additional-resource-tags"
SVC_DISABLE_NLB_SG: Final = SERVICE_PREFIX + "aws-load-balancer-disable-nlb-sg"
SVC_SUBNETS: Final = SERVICE_PREFIX + "aws-load-balancer-subnets"
SVC_LOAD_BALANCER_NAME: Final = SERVICE_PREFIX + "aws-load-balancer-name"
SVC_TARGET_GROUP_ATTRIBUTES: Final = SERVICE_PREFIX + "aws-load-balancer-target-group-attributes"
# TLS listeners of an NLB
SVC_SSL_CERT: Final = SERVICE_PREFIX + "aws-load-balancer-ssl-cert"
SVC_SSL_PORTS: Final = SERVICE_PREFIX + "aws-load-balancer-ssl-ports"
SVC_SSL_NEGOTIATION_POLICY: Final = SERVICE_PREFIX + "aws-load-balancer-ssl-negotiation-policy"
SVC_ALPN_POLICY: Final = SERVICE_PREFIX + "aws-load-balancer-alpn-policy"
SVC_BACKEND_PROTOCOL: Final = SERVICE_PREFIX + "aws-load-balancer-backend-protocol"


def svc_port_target_group_attributes(port: int) -> str:
    """The per-listener-port form ``...target-group-attributes.<port>``; its non-empty values win."""
    return f"{SVC_TARGET_GROUP_ATTRIBUTES}.{port}"


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which Kubernetes object a setting came from; printed as ``Ingress ns/name``."""

    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, kind: str, obj: Mapping[str, Any]) -> ObjectRef:
        return cls(kind, namespace_of(obj), name_of(obj))

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        # Cluster-scoped objects (IngressClassParams) have no namespace to print.
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


class ModelBuildError(Exception):
    """User input that cannot be turned into a load balancer model.

    The message is written for a ``FailedBuildModel`` Warning event; ``objects`` are the objects
    the problem was found on (the controller posts the event on every member of the stack anyway).
    ``retryable``: False when only an edit of the object can fix it (the edit triggers the next
    reconcile, so retrying is pointless); True when the input names something outside Kubernetes
    that may appear later, so the reconcile is retried with backoff.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, objects: Sequence[ObjectRef]) -> None:
        super().__init__(message)
        self.message = message
        self.objects = tuple(objects)


class InvalidAnnotationError(ModelBuildError):
    """One annotation (or spec field, or IngressClassParams field) has a value we cannot use."""

    def __init__(self, object_ref: ObjectRef, key: str, value: str, reason: str) -> None:
        super().__init__(f"{object_ref}: invalid {key}={value!r}: {reason}", [object_ref])
        self.object_ref = object_ref
        self.key = key
        self.value = value
        self.reason = reason


class UnresolvedAnnotationError(InvalidAnnotationError):
    """An annotation names AWS resources (custom SGs) that could not be resolved right now.

    Retried with backoff: the resource may be created after the object (nothing in Kubernetes
    changes when it is), and the lookup may have failed on AWS throttling or a 5xx.
    """

    retryable: ClassVar[bool] = True


class ConflictingGroupSettingError(ModelBuildError):
    """Members of one Ingress group (or one stack) disagree on a setting that must be shared."""

    def __init__(self, setting: str, key: str, values: Sequence[tuple[ObjectRef, str]]) -> None:
        shown = "; ".join(f"{ref} has {value!r}" for ref, value in values)
        super().__init__(f"conflicting {setting} ({key}): {shown}", [ref for ref, _ in values])
        self.setting = setting
        self.key = key
        self.values = tuple(values)


class InvalidObjectError(ModelBuildError):
    """A spec field (not an annotation) is unusable, e.g. a backend Service or port that is missing."""

    def __init__(self, object_ref: ObjectRef, field: str, value: str, reason: str) -> None:
        super().__init__(f"{object_ref}: invalid {field}={value!r}: {reason}", [object_ref])
        self.object_ref = object_ref
        self.field = field
        self.value = value
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------------


def parse_string_list(raw: str) -> tuple[str, ...]:
    """Comma list: items trimmed, empty items dropped (upstream ``ParseStringSliceAnnotation``)."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_bool(ref: ObjectRef, key: str, raw: str) -> bool:
    """Go ``strconv.ParseBool``: 1/t/T/TRUE/true/True and their false counterparts."""
    try:
        return _go_parse_bool(raw)
    except ValueError:
        raise InvalidAnnotationError(ref, key, raw, "not a boolean") from None


def parse_int(ref: ObjectRef, key: str, raw: str, minimum: int, maximum: int) -> int:
    text = raw.strip()
    # Go's strconv.ParseInt accepts an optional sign and decimal digits only.
    body = text[1:] if text[:1] in "+-" else text
    if not body.isascii() or not body.isdigit():
        raise InvalidAnnotationError(ref, key, raw, "not an integer")
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidAnnotationError(ref, key, raw, f"must be within [{minimum}, {maximum}]")
    return value


_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def parse_int32(ref: ObjectRef, key: str, raw: str) -> int:
    """Go's ``strconv.ParseInt(raw, 10, 32)`` with upstream's ``ParseInt32Annotation`` error text
    (no trimming: Go rejects surrounding space too)."""
    body = raw[1:] if raw[:1] in "+-" else raw
    if not body.isascii() or not body.isdigit():
        raise InvalidAnnotationError(
            ref,
            key,
            raw,
            f'failed to parse int32 annotation, {key}: {raw}: strconv.ParseInt: parsing "{raw}": invalid syntax',
        )
    value = int(raw)
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise InvalidAnnotationError(
            ref,
            key,
            raw,
            f'failed to parse int32 annotation, {key}: {raw}: strconv.ParseInt: parsing "{raw}": value out of range',
        )
    return value


# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's str.strip also trims \x1c-\x1f).
_GO_SPACE: Final = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _split_key_value_pairs(raw: str) -> list[str]:
    """Upstream's item splitter for ``k=v`` maps, rule for rule: ``\\x`` is a literal ``x`` (so
    ``\\,`` keeps a comma in a value); a comma ends an item only if ``=`` occurs somewhere after
    it; a comma followed by nothing but space stays in the item; a comma followed by text without
    any ``=`` ends the split with that text as a last (invalid) item."""
    items: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            current.append(raw[index + 1])
            index += 2
            continue
        if char == ",":
            remaining = raw[index + 1 :].strip(_GO_SPACE)
            if "=" in remaining:
                items.append("".join(current).strip(_GO_SPACE))
                current = []
            elif remaining:
                items.extend(("".join(current).strip(_GO_SPACE), remaining))
                return items
            else:
                current.append(char)
        else:
            current.append(char)
        index += 1
    if current:
        items.append("".join(current).strip(_GO_SPACE))
    return items


def parse_string_map(ref: ObjectRef, key: str, raw: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` as upstream's ``ParseStringMapAnnotation``: items split as above, each split at
    its first ``=`` with both sides trimmed (a value may hold more ``=``); an item without ``=`` or
    with an empty key is an error; a later duplicate key wins."""
    result: dict[str, str] = {}
    for item in _split_key_value_pairs(raw):
        name, sep, value = item.partition("=")
        name = name.strip(_GO_SPACE)
        if not sep or not name:
            raise InvalidAnnotationError(
                ref, key, raw, f"failed to parse stringMap annotation: item {item!r} is not key=value"
            )
        result[name] = value.strip(_GO_SPACE)
    return result


@dataclass(frozen=True)
class ParsedCidrs:
    """CIDRs as the user wrote them, split by family (a CIDR containing ``:`` is IPv6)."""

    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.ipv4 and not self.ipv6


def parse_cidrs(ref: ObjectRef, key: str, items: Sequence[str], raw: str | None = None) -> ParsedCidrs:
    """Validate each CIDR (host bits allowed, as Go's ``net.ParseCIDR``) and split by family.

    CIDRs are kept as written: upstream sends them to AWS verbatim.
    """
    ipv4: list[str] = []
    ipv6: list[str] = []
    for cidr in items:
        address, slash, prefix_length = cidr.partition("/")
        # Go's net.ParseCIDR wants a decimal prefix length and no IPv6 zone; Python alone would also
        # accept netmasks ("/255.0.0.0") and zones ("%eth0"), which AWS rejects later.
        valid = bool(slash) and prefix_length.isascii() and prefix_length.isdigit() and "%" not in address
        if valid:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                valid = False
        if not valid:
            raise InvalidAnnotationError(ref, key, raw if raw is not None else cidr, f"invalid CIDR {cidr!r}")
        (ipv6 if ":" in cidr else ipv4).append(cidr)
    return ParsedCidrs(tuple(ipv4), tuple(ipv6))


LISTEN_PROTOCOLS: Final = ("HTTP", "HTTPS")


def parse_listen_ports(ref: ObjectRef, key: str, raw: str) -> dict[int, str]:
    """``[{"HTTP": 80}, {"HTTPS": 443}]`` → ``{80: "HTTP", 443: "HTTPS"}`` (later entries win).

    Matches upstream's decoding into ``[]map[string]int64``: integers only, ports 1..65535,
    protocol HTTP or HTTPS; an empty list (or ``null``) is an error.
    """
    try:
        entries = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidAnnotationError(ref, key, raw, "not valid JSON") from None
    if entries is not None and not isinstance(entries, list):
        raise InvalidAnnotationError(ref, key, raw, 'must be a JSON list like [{"HTTP": 80}]')
    if not entries:
        raise InvalidAnnotationError(ref, key, raw, "empty listen-ports configuration")
    ports: dict[int, str] = {}
    for entry in entries:
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise InvalidAnnotationError(ref, key, raw, 'each entry must be an object like {"HTTP": 80}')
        for protocol, port in entry.items():
            if isinstance(port, bool) or not isinstance(port, int):
                raise InvalidAnnotationError(ref, key, raw, f"port {port!r} is not an integer")
            if not 1 <= port <= 65535:
                raise InvalidAnnotationError(ref, key, raw, f"listen port must be within [1, 65535]: {port}")
            if protocol not in LISTEN_PROTOCOLS:
                raise InvalidAnnotationError(
                    ref, key, raw, f"listen protocol must be within [HTTP, HTTPS]: {protocol}"
                )
            ports[port] = protocol
    return ports
