"""Our own snake_case values for what the ``Elbv2`` facade sends and returns.

A field AWS (or moto) did not report is ``None``; in a request, ``None`` means "not sent".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from controller.aws.ec2_types import tag_map

_CONDITION_CONFIG_KEYS: Final = {
    "host-header": "HostHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "http-header": "HttpHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "query-string": "QueryStringConfig",
    "source-ip": "SourceIpConfig",
}
"""Each condition field's ``<Field>Config`` block (host-header and path-pattern also have plain ``Values``)."""
_QUERY_STRING: Final = "query-string"
_HTTP_HEADER: Final = "http-header"


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


# ---------------------------------------------------------------------------------- load balancers


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str | None
    type: str | None
    scheme: str | None
    dns_name: str
    vpc_id: str | None
    ip_address_type: str | None
    security_groups: tuple[str, ...]
    subnet_ids: tuple[str, ...]
    """One per availability zone the LB is in."""

    @classmethod
    def from_aws(cls, lb: Mapping[str, Any]) -> LoadBalancer:
        return cls(
            arn=str(lb["LoadBalancerArn"]),
            name=_optional_str(lb.get("LoadBalancerName")),
            type=_optional_str(lb.get("Type")),
            scheme=_optional_str(lb.get("Scheme")),
            dns_name=str(lb.get("DNSName", "")),
            vpc_id=_optional_str(lb.get("VpcId")),
            ip_address_type=_optional_str(lb.get("IpAddressType")),
            security_groups=tuple(str(g) for g in lb.get("SecurityGroups") or ()),
            subnet_ids=tuple(str(zone["SubnetId"]) for zone in lb.get("AvailabilityZones") or ()),
        )


@dataclass(frozen=True)
class NewLoadBalancer:
    """A CreateLoadBalancer request; empty ``security_groups`` sends no SecurityGroups at all."""

    name: str
    subnet_ids: tuple[str, ...]
    scheme: str
    type: str
    ip_address_type: str
    tags: Mapping[str, str] = field(hash=False)
    security_groups: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------- target groups


@dataclass(frozen=True)
class Matcher:
    http_code: str | None = None
    grpc_code: str | None = None

    @classmethod
    def from_aws(cls, matcher: Mapping[str, Any]) -> Matcher:
        return cls(_optional_str(matcher.get("HttpCode")), _optional_str(matcher.get("GrpcCode")))

    def to_aws(self) -> dict[str, str]:
        sent = {"HttpCode": self.http_code, "GrpcCode": self.grpc_code}
        return {key: value for key, value in sent.items() if value is not None}


_HEALTH_CHECK_KEYS: Final = {
    "protocol": "HealthCheckProtocol",
    "port": "HealthCheckPort",
    "interval_seconds": "HealthCheckIntervalSeconds",
    "timeout_seconds": "HealthCheckTimeoutSeconds",
    "healthy_threshold": "HealthyThresholdCount",
    "unhealthy_threshold": "UnhealthyThresholdCount",
    "path": "HealthCheckPath",
    "matcher": "Matcher",
}


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health-check settings; every field is optional (not reported / not sent)."""

    protocol: str | None = None
    port: str | None = None
    interval_seconds: int | None = None
    timeout_seconds: int | None = None
    healthy_threshold: int | None = None
    unhealthy_threshold: int | None = None
    path: str | None = None
    matcher: Matcher | None = None

    @classmethod
    def from_aws(cls, group: Mapping[str, Any]) -> HealthCheck:
        matcher = group.get("Matcher")
        return cls(
            protocol=_optional_str(group.get("HealthCheckProtocol")),
            port=_optional_str(group.get("HealthCheckPort")),
            interval_seconds=_optional_int(group.get("HealthCheckIntervalSeconds")),
            timeout_seconds=_optional_int(group.get("HealthCheckTimeoutSeconds")),
            healthy_threshold=_optional_int(group.get("HealthyThresholdCount")),
            unhealthy_threshold=_optional_int(group.get("UnhealthyThresholdCount")),
            path=_optional_str(group.get("HealthCheckPath")),
            matcher=Matcher.from_aws(matcher) if matcher is not None else None,
        )

    def set_fields(self) -> dict[str, object]:
        """The fields that are not ``None``, by our field name, in declaration order."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    def to_aws(self) -> dict[str, Any]:
        return {
            _HEALTH_CHECK_KEYS[name]: value.to_aws() if isinstance(value, Matcher) else value
            for name, value in self.set_fields().items()
        }


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str | None
    vpc_id: str | None
    protocol: str | None
    port: int | None
    target_type: str | None
    ip_address_type: str | None
    protocol_version: str | None
    health_check: HealthCheck

    @classmethod
    def from_aws(cls, group: Mapping[str, Any]) -> TargetGroup:
        return cls(
            arn=str(group["TargetGroupArn"]),
            name=_optional_str(group.get("TargetGroupName")),
            vpc_id=_optional_str(group.get("VpcId")),
            protocol=_optional_str(group.get("Protocol")),
            port=_optional_int(group.get("Port")),
            target_type=_optional_str(group.get("TargetType")),
            ip_address_type=_optional_str(group.get("IpAddressType")),
            protocol_version=_optional_str(group.get("ProtocolVersion")),
            health_check=HealthCheck.from_aws(group),
        )


@dataclass(frozen=True)
class NewTargetGroup:
    """A CreateTargetGroup request; ``protocol_version`` ``None`` sends none."""

    name: str
    protocol: str
    port: int
    vpc_id: str
    target_type: str
    ip_address_type: str
    health_check: HealthCheck
    tags: Mapping[str, str] = field(hash=False)
    protocol_version: str | None = None


@dataclass(frozen=True)
class TargetHealth:
    """One DescribeTargetHealth entry; ``target_id``/``port`` are ``None`` if AWS left them out."""

    target_id: str | None
    port: int | None
    state: str | None

    @classmethod
    def from_aws(cls, description: Mapping[str, Any]) -> TargetHealth:
        target = description.get("Target") or {}
        return cls(
            target_id=_optional_str(target.get("Id")),
            port=_optional_int(target.get("Port")),
            state=_optional_str((description.get("TargetHealth") or {}).get("State")),
        )


@dataclass(frozen=True)
class TargetRef:
    """A target to register or deregister: an instance id or an IP address, and a port."""

    target_id: str
    port: int


# ------------------------------------------------------------------------------ listeners and rules


@dataclass(frozen=True)
class FixedResponse:
    status_code: str
    content_type: str | None = None
    message_body: str | None = None


@dataclass(frozen=True)
class Redirect:
    """A ``RedirectConfig``; a ``None`` part is not sent (real AWS then reports ``#{port}`` etc.)."""

    status_code: str
    protocol: str | None = None
    port: str | None = None
    host: str | None = None
    path: str | None = None
    query: str | None = None

    @classmethod
    def from_aws(cls, config: Mapping[str, Any]) -> Redirect:
        return cls(
            status_code=str(config.get("StatusCode", "")),
            protocol=_optional_str(config.get("Protocol")),
            port=_optional_str(config.get("Port")),
            host=_optional_str(config.get("Host")),
            path=_optional_str(config.get("Path")),
            query=_optional_str(config.get("Query")),
        )

    def to_aws(self) -> dict[str, str]:
        sent = {
            "Protocol": self.protocol,
            "Port": self.port,
            "Host": self.host,
            "Path": self.path,
            "Query": self.query,
            "StatusCode": self.status_code,
        }
        return {key: value for key, value in sent.items() if value is not None}


@dataclass(frozen=True)
class ForwardTarget:
    """One ``ForwardConfig.TargetGroups`` entry; ``weight`` ``None`` is not sent."""

    target_group_arn: str
    weight: int | None = None


@dataclass(frozen=True)
class Stickiness:
    """A forward action's ``TargetGroupStickinessConfig``; ``None`` fields are not sent."""

    enabled: bool | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True)
class ListenerAction:
    """A listener or rule action. AWS answers a plain ``forward`` with the target group both in
    ``target_group_arn`` and in the forward config (``forward_target_groups``, weight 1)."""

    type: str
    target_group_arn: str | None = None
    forward_target_groups: tuple[ForwardTarget, ...] = ()
    stickiness: Stickiness | None = None
    fixed_response: FixedResponse | None = None
    redirect: Redirect | None = None
    order: int | None = None

    @property
    def forward_target_group_arns(self) -> tuple[str, ...]:
        return tuple(t.target_group_arn for t in self.forward_target_groups)

    @classmethod
    def forward(cls, target_group_arn: str) -> ListenerAction:
        return cls("forward", target_group_arn=target_group_arn)

    @classmethod
    def forward_config(
        cls, targets: tuple[ForwardTarget, ...], stickiness: Stickiness | None = None
    ) -> ListenerAction:
        return cls("forward", forward_target_groups=targets, stickiness=stickiness)

    @classmethod
    def fixed(
        cls, status_code: str, content_type: str | None, message_body: str | None = None
    ) -> ListenerAction:
        return cls("fixed-response", fixed_response=FixedResponse(status_code, content_type, message_body))

    @classmethod
    def redirect_to(cls, redirect: Redirect) -> ListenerAction:
        return cls("redirect", redirect=redirect)

    @classmethod
    def from_aws(cls, action: Mapping[str, Any]) -> ListenerAction:
        forward = action.get("ForwardConfig") or {}
        fixed = action.get("FixedResponseConfig")
        redirect = action.get("RedirectConfig")
        sticky = forward.get("TargetGroupStickinessConfig")
        return cls(
            type=str(action.get("Type", "")),
            target_group_arn=_optional_str(action.get("TargetGroupArn")) or None,
            forward_target_groups=tuple(
                ForwardTarget(str(t["TargetGroupArn"]), _optional_int(t.get("Weight")))
                for t in forward.get("TargetGroups") or ()
            ),
            stickiness=(
                Stickiness(
                    None if sticky.get("Enabled") is None else bool(sticky["Enabled"]),
                    _optional_int(sticky.get("DurationSeconds")),
                )
                if sticky is not None
                else None
            ),
            fixed_response=(
                FixedResponse(
                    str(fixed.get("StatusCode", "")),
                    _optional_str(fixed.get("ContentType")),
                    _optional_str(fixed.get("MessageBody")),
                )
                if fixed is not None
                else None
            ),
            redirect=Redirect.from_aws(redirect) if redirect is not None else None,
            order=_optional_int(action.get("Order")),
        )

    def to_aws(self) -> dict[str, Any]:
        action: dict[str, Any] = {"Type": self.type}
        if self.target_group_arn is not None:
            action["TargetGroupArn"] = self.target_group_arn
        if self.forward_target_groups:
            forward: dict[str, Any] = {
                "TargetGroups": [
                    {"TargetGroupArn": t.target_group_arn}
                    | ({"Weight": t.weight} if t.weight is not None else {})
                    for t in self.forward_target_groups
                ]
            }
            if self.stickiness is not None:
                sticky = {
                    "Enabled": self.stickiness.enabled,
                    "DurationSeconds": self.stickiness.duration_seconds,
                }
                forward["TargetGroupStickinessConfig"] = {k: v for k, v in sticky.items() if v is not None}
            action["ForwardConfig"] = forward
        if self.fixed_response is not None:
            config = {
                "StatusCode": self.fixed_response.status_code,
                "ContentType": self.fixed_response.content_type,
                "MessageBody": self.fixed_response.message_body,
            }
            action["FixedResponseConfig"] = {k: v for k, v in config.items() if v is not None}
        if self.redirect is not None:
            action["RedirectConfig"] = self.redirect.to_aws()
        if self.order is not None:
            action["Order"] = self.order
        return action


@dataclass(frozen=True)
class RuleCondition:
    """A rule condition. ``values`` is AWS's plain ``Values`` (host-header and path-pattern only);
    the rest is the ``<Field>Config`` block: ``config_values`` its ``Values`` (``None``: no block,
    unless another block part is set), ``regex_values`` its ``RegexValues``, ``http_header_name``
    (http-header) and ``query_strings`` (query-string: ``(key or None, value)`` pairs)."""

    field: str
    values: tuple[str, ...] = ()
    config_values: tuple[str, ...] | None = None
    regex_values: tuple[str, ...] = ()
    http_header_name: str | None = None
    query_strings: tuple[tuple[str | None, str], ...] = ()

    @classmethod
    def from_aws(cls, condition: Mapping[str, Any]) -> RuleCondition:
        field_name = str(condition.get("Field", ""))
        config_key = _CONDITION_CONFIG_KEYS.get(field_name)
        config = condition.get(config_key) if config_key is not None else None
        block: Mapping[str, Any] = config or {}
        query = field_name == _QUERY_STRING
        return cls(
            field=field_name,
            values=tuple(str(v) for v in condition.get("Values") or ()),
            config_values=(
                tuple(str(v) for v in block.get("Values") or ()) if "Values" in block and not query else None
            ),
            regex_values=tuple(str(v) for v in block.get("RegexValues") or ()),
            http_header_name=_optional_str(block.get("HttpHeaderName")),
            query_strings=(
                tuple(
                    (_optional_str(p.get("Key")), str(p.get("Value", ""))) for p in block.get("Values") or ()
                )
                if query
                else ()
            ),
        )

    def to_aws(self) -> dict[str, Any]:
        condition: dict[str, Any] = {"Field": self.field}
        block: dict[str, Any] = {}
        if self.http_header_name is not None:
            block["HttpHeaderName"] = self.http_header_name
        if self.config_values is not None:
            block["Values"] = list(self.config_values)
        if self.regex_values:
            block["RegexValues"] = list(self.regex_values)
        if self.query_strings:
            block["Values"] = [
                {"Key": key, "Value": value} if key is not None else {"Value": value}
                for key, value in self.query_strings
            ]
        if self.values or not block:
            condition["Values"] = list(self.values)
        if block:
            condition[_CONDITION_CONFIG_KEYS[self.field]] = block
        return condition


@dataclass(frozen=True)
class Listener:
    arn: str
    port: int
    protocol: str | None
    default_actions: tuple[ListenerAction, ...]
    certificate_arns: tuple[str, ...]
    """The default certificate, as the listener reports it."""
    ssl_policy: str | None = None
    alpn_policy: tuple[str, ...] = ()

    @classmethod
    def from_aws(cls, listener: Mapping[str, Any]) -> Listener:
        return cls(
            arn=str(listener["ListenerArn"]),
            port=int(listener["Port"]),
            protocol=_optional_str(listener.get("Protocol")),
            default_actions=tuple(ListenerAction.from_aws(a) for a in listener.get("DefaultActions") or ()),
            certificate_arns=tuple(str(c.get("CertificateArn")) for c in listener.get("Certificates") or ()),
            ssl_policy=_optional_str(listener.get("SslPolicy")),
            alpn_policy=tuple(str(p) for p in listener.get("AlpnPolicy") or ()),
        )


@dataclass(frozen=True)
class NewListener:
    """A CreateListener request; what is ``None`` is not sent (Certificates, SslPolicy, AlpnPolicy)."""

    load_balancer_arn: str
    port: int
    protocol: str
    default_actions: tuple[ListenerAction, ...]
    certificate_arn: str | None = None
    ssl_policy: str | None = None
    alpn_policy: str | None = None


@dataclass(frozen=True)
class ListenerChanges:
    """A ModifyListener request: only what is not ``None`` is sent."""

    protocol: str | None = None
    default_actions: tuple[ListenerAction, ...] | None = None
    certificate_arn: str | None = None
    ssl_policy: str | None = None
    alpn_policy: str | None = None

    def changed_fields(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class ListenerCertificate:
    certificate_arn: str
    is_default: bool


@dataclass(frozen=True)
class ListenerRule:
    arn: str
    priority: str
    """A number, or ``default`` for the listener's default rule."""
    is_default: bool
    conditions: tuple[RuleCondition, ...]
    actions: tuple[ListenerAction, ...]

    @classmethod
    def from_aws(cls, rule: Mapping[str, Any]) -> ListenerRule:
        return cls(
            arn=str(rule["RuleArn"]),
            priority=str(rule.get("Priority", "")),
            is_default=bool(rule.get("IsDefault")),
            conditions=tuple(RuleCondition.from_aws(c) for c in rule.get("Conditions") or ()),
            actions=tuple(ListenerAction.from_aws(a) for a in rule.get("Actions") or ()),
        )


def resource_tags(descriptions: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, str]]:
    """The ``TagDescriptions`` of a tags describe, as ARN → tags."""
    return {str(entry["ResourceArn"]): tag_map(entry.get("Tags")) for entry in descriptions}
