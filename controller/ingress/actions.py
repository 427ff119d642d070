"""``actions.<name>`` and ``conditions.<name>`` Ingress annotations (upstream ``config_types.go`` and
``enhanced_backend_builder.go``).

Both are JSON read the way Go's ``json.Unmarshal`` reads upstream's structs: object keys match field
names case-insensitively (so the old ``{"Type": ..., "ForwardConfig": ...}`` spelling works), ``null``
is the same as absent and unknown keys are ignored. Validation and its messages are upstream's
(``validate()`` of each config type, wrapped as upstream wraps them). A backend refers to an action
with ``service.port.name: use-annotation`` and ``service.name`` the action's name; a missing action
becomes a fixed 503 response (upstream's default ``--tolerate-non-existent-backend-action``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.annotations import (
    ING_ACTIONS_PREFIX,
    ING_CONDITIONS_PREFIX,
    InvalidAnnotationError,
    ObjectRef,
)
from controller.model.load_balancer import (
    FixedResponseAction,
    QueryStringPair,
    RedirectAction,
    RuleCondition,
    TargetGroupStickiness,
)

USE_ANNOTATION: Final = "use-annotation"
"""The backend port name that makes the backend's service name an action name."""
NON_EXISTENT_ACTION_BODY: Final = "Backend action does not exist"
NON_EXISTENT_ACTION: Final = FixedResponseAction("503", "text/plain", NON_EXISTENT_ACTION_BODY)

FIXED_RESPONSE: Final = "fixed-response"
FORWARD: Final = "forward"
REDIRECT: Final = "redirect"

HOST_HEADER: Final = "host-header"
PATH_PATTERN: Final = "path-pattern"
HTTP_HEADER: Final = "http-header"
HTTP_REQUEST_METHOD: Final = "http-request-method"
QUERY_STRING: Final = "query-string"
SOURCE_IP: Final = "source-ip"

_INT32: Final = (-(2**31), 2**31 - 1)


def actions_key(name: str) -> str:
    return ING_ACTIONS_PREFIX + name


def conditions_key(name: str) -> str:
    return ING_CONDITIONS_PREFIX + name


@dataclass(frozen=True)
class ServicePortRef:
    """A forward target's ``serviceName``/``servicePort`` (a number if the port reads as one)."""

    service_name: str
    port: int | str


@dataclass(frozen=True)
class TargetConfig:
    """One ``forwardConfig.targetGroups`` entry: a Service port or an existing target group."""

    service: ServicePortRef | None
    target_group_arn: str | None
    target_group_name: str | None
    weight: int | None


@dataclass(frozen=True)
class ForwardConfig:
    targets: tuple[TargetConfig, ...]
    stickiness: TargetGroupStickiness | None


AnnotationAction = ForwardConfig | FixedResponseAction | RedirectAction
"""An ``actions.<name>`` value; forward targets still name Services (the builder makes their target groups)."""


class _Invalid(Exception):
    """A validation message in upstream's words; the caller adds the object, key and value."""


class _JsonObject:
    """A decoded JSON object read like a Go struct (see the module docstring)."""

    def __init__(self, value: object, what: str) -> None:
        if not isinstance(value, dict):
            raise _Invalid(f"failed to parse json annotation: {what} must be a JSON object")
        # Keys folded once; Go lets a later duplicate (in any case) overwrite an earlier one.
        self._folded = {key.lower(): item for key, item in value.items()}
        self._what = what

    def get(self, name: str) -> Any:
        return self._folded.get(name.lower())

    def _typed(self, name: str, kind: type | tuple[type, ...], kind_name: str) -> Any:
        value = self.get(name)
        if value is None:
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise _Invalid(f"failed to parse json annotation: {self._what}.{name} must be {kind_name}")
        return value

    def string(self, name: str) -> str | None:
        value: str | None = self._typed(name, str, "a string")
        return value

    def int32(self, name: str) -> int | None:
        value: int | None = self._typed(name, int, "an integer")
        if value is not None and not _INT32[0] <= value <= _INT32[1]:
            raise _Invalid(f"failed to parse json annotation: {self._what}.{name} is out of int32 range")
        return value

    def boolean(self, name: str) -> bool | None:
        value: bool | None = self._typed(name, bool, "a boolean")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        items = self._typed(name, list, "a list of strings") or []
        if not all(isinstance(item, str) for item in items):
            raise _Invalid(f"failed to parse json annotation: {self._what}.{name} must be a list of strings")
        return tuple(items)

    def object(self, name: str) -> _JsonObject | None:
        value = self.get(name)
        return None if value is None else _JsonObject(value, f"{self._what}.{name}")

    def objects(self, name: str) -> list[_JsonObject]:
        items = self._typed(name, list, "a list") or []
        return [_JsonObject(item, f"{self._what}.{name}[]") for item in items if item is not None]


def _decode(raw: str) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise _Invalid(f"failed to parse json annotation: {error}") from None


# ------------------------------------------------------------------------------------------ actions


def parse_action(ref: ObjectRef, annotations: Mapping[str, str], name: str) -> AnnotationAction:
    """The action ``actions.<name>`` of the Ingress ``ref``; missing → the fixed 503 response."""
    key = actions_key(name)
    raw = annotations.get(key)
    if raw is None:
        return NON_EXISTENT_ACTION
    try:
        return _action(_JsonObject(_decode(raw), "action"))
    except _Invalid as error:
        raise InvalidAnnotationError(ref, key, raw, str(error)) from None


def _action(obj: _JsonObject) -> AnnotationAction:
    action_type = obj.string("type") or ""
    arn, tg_name = obj.string("targetGroupARN"), obj.string("targetGroupName")
    if action_type == FIXED_RESPONSE:
        config = obj.object("fixedResponseConfig")
        if config is None:
            raise _Invalid("missing FixedResponseConfig")
        status = config.string("statusCode") or ""
        if not status:
            raise _Invalid("invalid FixedResponseConfig: statusCode is required")
        return FixedResponseAction(status, config.string("contentType"), config.string("messageBody"))
    if action_type == REDIRECT:
        config = obj.object("redirectConfig")
        if config is None:
            raise _Invalid("missing RedirectConfig")
        status = config.string("statusCode") or ""
        if not status:
            raise _Invalid("invalid RedirectConfig: statusCode is required")
        return RedirectAction(
            status_code=status,
            protocol=config.string("protocol"),
            port=config.string("port"),
            host=config.string("host"),
            path=config.string("path"),
            query=config.string("query"),
        )
    if action_type == FORWARD:
        forward = obj.object("forwardConfig")
        if arn is None and tg_name is None and forward is None:
            raise _Invalid("missing ForwardConfig or TargetGroupARN/TargetGroupName")
        if forward is None:
            # Upstream's simplified schema: one existing target group.
            return ForwardConfig((TargetConfig(None, arn, tg_name, None),), None)
        if arn is not None or tg_name is not None:
            raise _Invalid("either ForwardConfig or TargetGroupARN/TargetGroupName can be specified")
        return _forward(forward)
    raise _Invalid(f"unknown action type: {action_type}")


def _forward(config: _JsonObject) -> ForwardConfig:
    targets: list[TargetConfig] = []
    for entry in config.objects("targetGroups"):
        arn, tg_name = entry.string("targetGroupARN"), entry.string("targetGroupName")
        service_name = entry.string("serviceName")
        port = _service_port(entry)
        if arn is None and tg_name is None and service_name is None:
            problem = "missing serviceName or targetGroupARN/targetGroupName"
        elif (arn is not None or tg_name is not None) and service_name is not None:
            problem = "either serviceName or targetGroupARN/targetGroupName can be specified"
        elif service_name is not None and port is None:
            problem = "missing servicePort"
        else:
            problem = ""
        if problem:
            raise _Invalid(f"invalid ForwardConfig: invalid TargetGroupTuple: {problem}")
        service = (
            ServicePortRef(service_name, port) if service_name is not None and port is not None else None
        )
        targets.append(TargetConfig(service, arn, tg_name, entry.int32("weight")))
    if len(targets) > 1 and any(t.weight is None for t in targets):
        raise _Invalid("invalid ForwardConfig: weight must be set when route to multiple target groups")
    sticky = config.object("targetGroupStickinessConfig")
    stickiness = (
        TargetGroupStickiness(sticky.boolean("enabled"), sticky.int32("durationSeconds"))
        if sticky is not None
        else None
    )
    return ForwardConfig(tuple(targets), stickiness)


def _service_port(entry: _JsonObject) -> int | str | None:
    """``servicePort`` as upstream's IntOrString, then read as a number when it is one ("80" → 80),
    as upstream does for compatibility with the old ALB ingress controller."""
    value = entry.get("servicePort")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Invalid("failed to parse json annotation: servicePort must be an integer or a string")
    text = str(value)
    body = text[1:] if text[:1] in "+-" else text
    return int(text) if body.isascii() and body.isdigit() else text


def action_service_names(annotations: Mapping[str, str], name: str) -> set[str]:
    """Services an ``actions.<name>`` forwards to; none when it is missing or invalid (as upstream's
    reference index, which skips what it cannot parse)."""
    raw = annotations.get(actions_key(name))
    if raw is None:
        return set()
    try:
        action = _action(_JsonObject(_decode(raw), "action"))
    except _Invalid:
        return set()
    if not isinstance(action, ForwardConfig):
        return set()
    return {t.service.service_name for t in action.targets if t.service is not None}


# --------------------------------------------------------------------------------------- conditions


def parse_conditions(ref: ObjectRef, annotations: Mapping[str, str], name: str) -> tuple[RuleCondition, ...]:
    """The conditions ``conditions.<name>`` adds to rules whose backend service name is ``name``.

    A condition with a field upstream does not know is ignored, as upstream ignores it.
    """
    key = conditions_key(name)
    raw = annotations.get(key)
    if raw is None:
        return ()
    try:
        decoded = _decode(raw)
        if decoded is not None and not isinstance(decoded, list):
            raise _Invalid("failed to parse json annotation: conditions must be a JSON list")
        conditions = [
            _condition(_JsonObject(item, "condition")) for item in decoded or () if item is not None
        ]
    except _Invalid as error:
        raise InvalidAnnotationError(ref, key, raw, str(error)) from None
    return tuple(c for c in conditions if c is not None)


def _values_or_regex(config: _JsonObject | None, block: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if config is None:
        raise _Invalid(f"missing {block}")
    values, regex = config.strings("values"), config.strings("regexValues")
    if not values and not regex:
        raise _Invalid(f"invalid {block}: values or regexValues must be specified")
    if values and regex:
        raise _Invalid(f"invalid {block}: precisely one of values and regexValues can be specified")
    return values, regex


def _non_empty_values(config: _JsonObject | None, block: str) -> tuple[str, ...]:
    if config is None:
        raise _Invalid(f"missing {block}")
    values = config.strings("values")
    if not values:
        raise _Invalid(f"invalid {block}: values cannot be empty")
    return values


def _condition(obj: _JsonObject) -> RuleCondition | None:
    field = obj.string("field") or ""
    if field == HOST_HEADER:
        values, regex = _values_or_regex(obj.object("hostHeaderConfig"), "hostHeaderConfig")
        return RuleCondition(field, values, regex)
    if field == PATH_PATTERN:
        values, regex = _values_or_regex(obj.object("pathPatternConfig"), "pathPatternConfig")
        return RuleCondition(field, values, regex)
    if field == HTTP_HEADER:
        config = obj.object("httpHeaderConfig")
        values, regex = _values_or_regex(config, "httpHeaderConfig")
        header = (config.string("httpHeaderName") if config is not None else None) or ""
        return RuleCondition(field, values, regex, http_header_name=header)
    if field == HTTP_REQUEST_METHOD:
        return RuleCondition(
            field, _non_empty_values(obj.object("httpRequestMethodConfig"), "httpRequestMethodConfig")
        )
    if field == SOURCE_IP:
        return RuleCondition(field, _non_empty_values(obj.object("sourceIPConfig"), "sourceIPConfig"))
    if field == QUERY_STRING:
        config = obj.object("queryStringConfig")
        if config is None:
            raise _Invalid("missing queryStringConfig")
        pairs = config.objects("values")
        if not pairs:
            raise _Invalid("invalid queryStringConfig: Values cannot be empty")
        parsed = tuple(QueryStringPair(p.string("key"), p.string("value") or "") for p in pairs)
        if any(not pair.value for pair in parsed):
            raise _Invalid("invalid queryStringConfig: value cannot be empty")
        return RuleCondition(field, query_strings=parsed)
    return None
