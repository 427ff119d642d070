"""Listeners (matched by port) and their rules (matched by priority) on the stack's LB.

Existing and desired settings are compared in a normalised form, because AWS answers a plain
``forward`` action with an added ``ForwardConfig`` and conditions with both ``Values`` and the
``<Field>Config`` block. Listeners and rules the model no longer has are returned, not deleted:
the deployer deletes them after everything else converged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.aws.api import AwsApi
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import (
    Listener,
    ListenerAction,
    ListenerChanges,
    NewListener,
)
from controller.aws.elbv2_types import RuleCondition as AwsRuleCondition
from controller.aws.errors import AwsApiError
from controller.model.load_balancer import (
    Action,
    FixedResponseAction,
    ForwardAction,
    ListenerRule,
    ListenerSpec,
    RuleCondition,
)

_log = logging.getLogger(__name__)

# Conditions whose values AWS takes (and answers) in a ``<Field>Config`` block.
_CONFIG_BLOCK_FIELDS = frozenset({"host-header", "path-pattern"})
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
        case ForwardAction(target_group_id=target_group_id):
            return ListenerAction.forward(target_group_arns[target_group_id])
        case FixedResponseAction(status_code=status, content_type=content_type):
            return ListenerAction.fixed(str(status), content_type)


def action_key(action: ListenerAction) -> tuple[object, ...]:
    """What makes two actions the same, whichever of AWS's equivalent spellings they use."""
    if action.type == "forward":
        arns = {a for a in [action.target_group_arn] if a}
        arns.update(action.forward_target_group_arns)
        return (action.type, tuple(sorted(arns)))
    if action.type == "fixed-response":
        config = action.fixed_response
        return (
            action.type,
            config.status_code if config else "",
            (config.content_type or "") if config else "",
            (config.message_body or "") if config else "",
        )
    return (action.type, repr(action))


def _actions_key(actions: Sequence[ListenerAction]) -> tuple[tuple[object, ...], ...]:
    ordered = sorted(actions, key=lambda a: a.order or 0)
    return tuple(action_key(a) for a in ordered)


def render_condition(condition: RuleCondition) -> AwsRuleCondition:
    if condition.field not in _CONFIG_BLOCK_FIELDS:
        return AwsRuleCondition(condition.field, values=tuple(condition.values))
    return AwsRuleCondition(condition.field, config_values=tuple(condition.values))


def condition_key(condition: AwsRuleCondition) -> tuple[str, tuple[str, ...]]:
    values = [*condition.values, *(condition.config_values or ())]
    return (condition.field, tuple(sorted(set(values))))


def _conditions_key(conditions: Sequence[AwsRuleCondition]) -> tuple[tuple[str, tuple[str, ...]], ...]:
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
