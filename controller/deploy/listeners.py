"""Listeners (matched by port) and their rules (matched by priority) on the stack's LB.

Existing and desired settings are compared in a normalised form, because AWS answers a plain
``forward`` action with an added ``ForwardConfig``, fills in the redirect parts that were not sent,
and may answer conditions with both ``Values`` and the ``<Field>Config`` block. Listeners and rules the model no longer has are returned, not deleted:
the deployer deletes them after everything else converged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from controller.aws.api import AwsApi
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import (
    ForwardTarget,
    Listener,
    ListenerAction,
    ListenerChanges,
    NewListener,
    Redirect,
    Stickiness,
)
from controller.aws.elbv2_types import RuleCondition as AwsRuleCondition
from controller.aws.errors import AwsApiError
from controller.model.load_balancer import (
    Action,
    FixedResponseAction,
    ForwardAction,
    ListenerRule,
    ListenerSpec,
    RedirectAction,
    RuleCondition,
)

_log = logging.getLogger(__name__)

_QUERY_STRING: Final = "query-string"
_HTTP_HEADER: Final = "http-header"
_LISTENER_NOT_FOUND = "ListenerNotFound"
_RULE_NOT_FOUND = "RuleNotFound"
_PROTOCOLS_WITH_RULES = frozenset({"HTTP", "HTTPS"})
"""Only ALB listeners have rules beyond the default action."""
_TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
"""Listeners with certificates and an SSL policy."""
_ALPN_NONE = "None"


@dataclass(frozen=True)
class Leftovers:
    """Listener and rule ARNs of the LB that the model no longer has."""

    listener_arns: tuple[str, ...] = ()
    rule_arns: tuple[str, ...] = ()


def render_action(action: Action, target_group_arns: Mapping[str, str]) -> ListenerAction:
    match action:
        case ForwardAction(target_groups=(), stickiness=None, target_group_id=target_group_id):
            return ListenerAction.forward(target_group_arns[target_group_id])
        case ForwardAction(stickiness=stickiness):
            targets = tuple(
                ForwardTarget(t.target_group_arn or target_group_arns[t.target_group_id], t.weight)
                for t in action.all_target_groups
            )
            sticky = Stickiness(stickiness.enabled, stickiness.duration_seconds) if stickiness else None
            return ListenerAction.forward_config(targets, sticky)
        case FixedResponseAction(status_code=status, content_type=content_type, message_body=body):
            return ListenerAction.fixed(status, content_type, body)
        case RedirectAction():
            return ListenerAction.redirect_to(
                Redirect(
                    action.status_code, action.protocol, action.port, action.host, action.path, action.query
                )
            )


# What real AWS reports for a redirect part that was not sent: the request's own value.
_REDIRECT_DEFAULTS: Final = {
    "protocol": "#{protocol}",
    "port": "#{port}",
    "host": "#{host}",
    "path": "/#{path}",
    "query": "#{query}",
}
_DEFAULT_WEIGHT: Final = 1
"""The weight AWS reports for a target group sent without one."""


def action_key(action: ListenerAction) -> tuple[object, ...]:
    """What makes two actions the same, whichever of AWS's equivalent spellings they use: a plain
    ``TargetGroupArn`` equals a one-group forward config of weight 1 and disabled stickiness, and a
    redirect part left out equals the ``#{...}`` value AWS fills in."""
    if action.type == "forward":
        weights = {t.target_group_arn: t.weight for t in action.forward_target_groups}
        if action.target_group_arn and action.target_group_arn not in weights:
            weights[action.target_group_arn] = None
        targets = tuple(sorted((arn, _DEFAULT_WEIGHT if w is None else w) for arn, w in weights.items()))
        sticky = action.stickiness
        enabled = bool(sticky and sticky.enabled)
        duration = sticky.duration_seconds if sticky is not None and enabled else None
        return (action.type, targets, enabled, duration)
    if action.type == "fixed-response":
        config = action.fixed_response
        return (
            action.type,
            config.status_code if config else "",
            (config.content_type or "") if config else "",
            (config.message_body or "") if config else "",
        )
    if action.type == "redirect" and action.redirect is not None:
        redirect = action.redirect
        parts = tuple(getattr(redirect, name) or default for name, default in _REDIRECT_DEFAULTS.items())
        return (action.type, redirect.status_code, *parts)
    return (action.type, repr(action))


def _actions_key(actions: Sequence[ListenerAction]) -> tuple[tuple[object, ...], ...]:
    ordered = sorted(actions, key=lambda a: a.order or 0)
    return tuple(action_key(a) for a in ordered)


def render_condition(condition: RuleCondition) -> AwsRuleCondition:
    """Every field in its ``<Field>Config`` block, as upstream sends them."""
    if condition.field == _QUERY_STRING:
        pairs = tuple((p.key, p.value) for p in condition.query_strings)
        return AwsRuleCondition(condition.field, query_strings=pairs)
    return AwsRuleCondition(
        condition.field,
        config_values=tuple(condition.values) if condition.values or not condition.regex_values else None,
        regex_values=tuple(condition.regex_values),
        http_header_name=condition.http_header_name if condition.field == _HTTP_HEADER else None,
    )


ConditionKey = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]


def condition_key(condition: AwsRuleCondition) -> ConditionKey:
    """Field, header name, values (plain and block alike), regex values and query pairs, unordered."""
    values = [*condition.values, *(condition.config_values or ())]
    pairs = sorted((key or "", value) for key, value in condition.query_strings)
    return (
        condition.field,
        condition.http_header_name or "",
        tuple(sorted(set(values))),
        tuple(sorted(set(condition.regex_values))),
        tuple(pairs),
    )


def _conditions_key(conditions: Sequence[AwsRuleCondition]) -> tuple[ConditionKey, ...]:
    return tuple(sorted(condition_key(c) for c in conditions))


def _default_certificate(spec: ListenerSpec) -> str | None:
    return spec.certificate_arns[0] if spec.certificate_arns else None


def _alpn_change(spec: ListenerSpec, existing: Listener) -> str | None:
    """The ALPN policy to send, or None to leave the listener's alone.

    As upstream without its ``EnhancedDefaultBehavior`` gate, a listener whose Service names no
    ALPN policy keeps whatever it has. Unlike upstream, a named ``None`` equals no policy at all
    (a listener may report either), so it never costs a ModifyListener on every pass.
    """
    desired = spec.alpn_policy
    if desired is None:
        return None
    current = existing.alpn_policy or (_ALPN_NONE,)
    return None if current == (desired,) else desired


class ListenerDeployer:
    def __init__(self, api: AwsApi) -> None:
        self._elbv2 = Elbv2(api)

    async def ensure(
        self,
        lb_arn: str,
        specs: Sequence[ListenerSpec],
        target_group_arns: Mapping[str, str],
        *,
        new_load_balancer: bool = False,
    ) -> Leftovers:
        """Converges the LB's listeners and rules (created or modified); returns what is left to delete.

        ``new_load_balancer``: the LB was created by this deploy, so it has no listener yet and
        there is nothing to describe (at a cold start that is one read less per LB).
        """
        existing = (
            {}
            if new_load_balancer
            else {listener.port: listener for listener in await self._elbv2.describe_listeners(lb_arn)}
        )
        wanted_ports = {spec.port for spec in specs}
        rule_leftovers: list[str] = []
        for spec in specs:
            current = existing.get(spec.port)
            listener_arn = await self._ensure_listener(lb_arn, spec, current, target_group_arns)
            if spec.protocol not in _PROTOCOLS_WITH_RULES:
                continue  # an NLB listener has no rules to converge
            rule_leftovers.extend(
                await self._ensure_rules(
                    listener_arn, spec.rules, target_group_arns, new_listener=current is None
                )
            )
        listener_leftovers = tuple(
            listener.arn for port, listener in sorted(existing.items()) if port not in wanted_ports
        )
        return Leftovers(listener_leftovers, tuple(rule_leftovers))

    async def _ensure_listener(
        self,
        lb_arn: str,
        spec: ListenerSpec,
        existing: Listener | None,
        target_group_arns: Mapping[str, str],
    ) -> str:
        default_actions = (render_action(spec.default_action, target_group_arns),)
        certificate = _default_certificate(spec)
        if existing is None:
            arn = await self._elbv2.create_listener(
                NewListener(
                    lb_arn,
                    spec.port,
                    spec.protocol,
                    default_actions,
                    certificate,
                    ssl_policy=spec.ssl_policy,
                    alpn_policy=spec.alpn_policy,
                )
            )
            _log.info("created listener %s (%s:%d)", arn, spec.protocol, spec.port)
            await self._ensure_extra_certificates(arn, spec, created=True)
            return arn
        arn = existing.arn
        changes = ListenerChanges(
            protocol=spec.protocol if existing.protocol != spec.protocol else None,
            default_actions=(
                default_actions
                if _actions_key(existing.default_actions) != _actions_key(default_actions)
                else None
            ),
            certificate_arn=(
                certificate
                if certificate is not None and existing.certificate_arns[:1] != (certificate,)
                else None
            ),
            # AWS reports a policy on every listener it has one for; only a named one is compared.
            ssl_policy=(
                spec.ssl_policy
                if spec.ssl_policy is not None and existing.ssl_policy != spec.ssl_policy
                else None
            ),
            alpn_policy=_alpn_change(spec, existing),
        )
        changed = changes.changed_fields()
        if changed:
            await self._elbv2.modify_listener(arn, changes)
            _log.info("modified listener %s: %s", arn, sorted(changed))
        await self._ensure_extra_certificates(arn, spec, created=False)
        return arn

    async def _ensure_extra_certificates(
        self, listener_arn: str, spec: ListenerSpec, *, created: bool
    ) -> None:
        """Certificates beyond the default one (SNI) live in the listener's certificate list."""
        desired = set(spec.certificate_arns[1:])
        if created:
            current: set[str] = set()
        elif spec.protocol not in _TLS_PROTOCOLS:
            return
        else:
            listed = await self._elbv2.describe_listener_certificates(listener_arn)
            # The default certificate is listed too (AWS flags it IsDefault; moto does not flag it).
            default = spec.certificate_arns[:1]
            current = {c.certificate_arn for c in listed if not c.is_default} - set(default)
        to_add = sorted(desired - current)
        to_remove = sorted(current - desired)
        if to_add:
            await self._elbv2.add_listener_certificates(listener_arn, to_add)
        if to_remove:
            await self._elbv2.remove_listener_certificates(listener_arn, to_remove)

    async def _ensure_rules(
        self,
        listener_arn: str,
        rules: Sequence[ListenerRule],
        target_group_arns: Mapping[str, str],
        *,
        new_listener: bool,
    ) -> list[str]:
        # A listener created just now holds only its default rule.
        described = [] if new_listener else await self._elbv2.describe_rules(listener_arn)
        existing = {
            int(rule.priority): rule for rule in described if not rule.is_default and rule.priority.isdigit()
        }
        for rule in rules:
            conditions = [render_condition(c) for c in rule.conditions]
            actions = [render_action(rule.action, target_group_arns)]
            current = existing.get(rule.priority)
            if current is None:
                created = await self._elbv2.create_rule(
                    listener_arn, priority=rule.priority, conditions=conditions, actions=actions
                )
                _log.info("created rule %s (priority %d)", created, rule.priority)
                continue
            same_conditions = _conditions_key(current.conditions) == _conditions_key(conditions)
            same_actions = _actions_key(current.actions) == _actions_key(actions)
            if not (same_conditions and same_actions):
                await self._elbv2.modify_rule(current.arn, conditions=conditions, actions=actions)
                _log.info("modified rule %s (priority %d)", current.arn, rule.priority)
        wanted = {rule.priority for rule in rules}
        return [rule.arn for priority, rule in sorted(existing.items()) if priority not in wanted]

    async def delete_rule(self, rule_arn: str) -> bool:
        """``False`` if it was already gone (e.g. with its listener)."""
        try:
            await self._elbv2.delete_rule(rule_arn)
        except AwsApiError as error:
            if error.code == _RULE_NOT_FOUND:
                return False
            raise
        _log.info("deleted rule %s", rule_arn)
        return True

    async def delete_listener(self, listener_arn: str) -> bool:
        """``False`` if it was already gone; its rules go with it."""
        try:
            await self._elbv2.delete_listener(listener_arn)
        except AwsApiError as error:
            if error.code == _LISTENER_NOT_FOUND:
                return False
            raise
        _log.info("deleted listener %s", listener_arn)
        return True
