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
from typing import Any

from controller.aws.api import AwsApi
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

_CONDITION_CONFIG_KEYS = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig"}
_LISTENER_NOT_FOUND = "ListenerNotFound"
_RULE_NOT_FOUND = "RuleNotFound"


@dataclass(frozen=True)
class Leftovers:
    """Listener and rule ARNs of the LB that the model no longer has."""

    listener_arns: tuple[str, ...] = ()
    rule_arns: tuple[str, ...] = ()


def render_action(action: Action, target_group_arns: Mapping[str, str]) -> dict[str, Any]:
    match action:
        case ForwardAction(target_group_id=target_group_id):
            return {"Type": "forward", "TargetGroupArn": target_group_arns[target_group_id]}
        case FixedResponseAction(status_code=status, content_type=content_type):
            return {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": str(status), "ContentType": content_type},
            }


def action_key(action: Mapping[str, Any]) -> tuple[object, ...]:
    """What makes two actions the same, whichever of AWS's equivalent spellings they use."""
    kind = str(action.get("Type", ""))
    if kind == "forward":
        arns = {str(a) for a in [action.get("TargetGroupArn")] if a}
        forward = action.get("ForwardConfig") or {}
        arns.update(str(t["TargetGroupArn"]) for t in forward.get("TargetGroups") or ())
        return (kind, tuple(sorted(arns)))
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig") or {}
        return (
            kind,
            str(config.get("StatusCode", "")),
            str(config.get("ContentType") or ""),
            str(config.get("MessageBody") or ""),
        )
    return (kind, repr(sorted(action.items())))


def _actions_key(actions: Sequence[Mapping[str, Any]]) -> tuple[tuple[object, ...], ...]:
    ordered = sorted(actions, key=lambda a: int(a.get("Order") or 0))
    return tuple(action_key(a) for a in ordered)


def render_condition(condition: RuleCondition) -> dict[str, Any]:
    config_key = _CONDITION_CONFIG_KEYS.get(condition.field)
    if config_key is None:
        return {"Field": condition.field, "Values": list(condition.values)}
    return {"Field": condition.field, config_key: {"Values": list(condition.values)}}


def condition_key(condition: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    field = str(condition.get("Field", ""))
    values = list(condition.get("Values") or ())
    config_key = _CONDITION_CONFIG_KEYS.get(field)
    if config_key is not None:
        values.extend((condition.get(config_key) or {}).get("Values") or ())
    return (field, tuple(sorted(set(map(str, values)))))


def _conditions_key(conditions: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted(condition_key(c) for c in conditions))


def _certificates(spec: ListenerSpec) -> list[dict[str, str]]:
    return [{"CertificateArn": spec.certificate_arns[0]}] if spec.certificate_arns else []


class ListenerDeployer:
    def __init__(self, api: AwsApi) -> None:
        self._api = api

    async def ensure(
        self, lb_arn: str, specs: Sequence[ListenerSpec], target_group_arns: Mapping[str, str]
    ) -> Leftovers:
        """Create/modify the LB's listeners and their rules; return what is left to delete."""
        existing = {
            int(listener["Port"]): listener
            for listener in await self._api.paginate(
                "elbv2", "DescribeListeners", "Listeners", LoadBalancerArn=lb_arn
            )
        }
        wanted_ports = {spec.port for spec in specs}
        rule_leftovers: list[str] = []
        for spec in specs:
            listener_arn = await self._ensure_listener(
                lb_arn, spec, existing.get(spec.port), target_group_arns
            )
            rule_leftovers.extend(await self._ensure_rules(listener_arn, spec.rules, target_group_arns))
        listener_leftovers = tuple(
            str(listener["ListenerArn"])
            for port, listener in sorted(existing.items())
            if port not in wanted_ports
        )
        return Leftovers(listener_leftovers, tuple(rule_leftovers))

    async def _ensure_listener(
        self,
        lb_arn: str,
        spec: ListenerSpec,
        existing: Mapping[str, Any] | None,
        target_group_arns: Mapping[str, str],
    ) -> str:
        default_actions = [render_action(spec.default_action, target_group_arns)]
        certificates = _certificates(spec)
        if existing is None:
            params: dict[str, Any] = {
                "LoadBalancerArn": lb_arn,
                "Port": spec.port,
                "Protocol": spec.protocol,
                "DefaultActions": default_actions,
            }
            if certificates:
                params["Certificates"] = certificates
            response = await self._api.call("elbv2", "CreateListener", **params)
            arn = str(response["Listeners"][0]["ListenerArn"])
            _log.info("created listener %s (%s:%d)", arn, spec.protocol, spec.port)
            await self._ensure_extra_certificates(arn, spec, created=True)
            return arn
        arn = str(existing["ListenerArn"])
        changes: dict[str, Any] = {}
        if existing.get("Protocol") != spec.protocol:
            changes["Protocol"] = spec.protocol
        if _actions_key(existing.get("DefaultActions") or ()) != _actions_key(default_actions):
            changes["DefaultActions"] = default_actions
        current_default_certs = [c.get("CertificateArn") for c in existing.get("Certificates") or ()]
        if certificates and current_default_certs[:1] != [certificates[0]["CertificateArn"]]:
            changes["Certificates"] = certificates
        if changes:
            await self._api.call("elbv2", "ModifyListener", ListenerArn=arn, **changes)
            _log.info("modified listener %s: %s", arn, sorted(changes))
        await self._ensure_extra_certificates(arn, spec, created=False)
        return arn

    async def _ensure_extra_certificates(
        self, listener_arn: str, spec: ListenerSpec, *, created: bool
    ) -> None:
        """Certificates beyond the default one (SNI) live in the listener's certificate list."""
        desired = set(spec.certificate_arns[1:])
        if created:
            current: set[str] = set()
        elif spec.protocol != "HTTPS":
            return
        else:
            listed = await self._api.paginate(
                "elbv2", "DescribeListenerCertificates", "Certificates", ListenerArn=listener_arn
            )
            # The default certificate is listed too (AWS flags it IsDefault; moto does not flag it).
            default = spec.certificate_arns[:1]
            current = {str(c["CertificateArn"]) for c in listed if not c.get("IsDefault")} - set(default)
        to_add = sorted(desired - current)
        to_remove = sorted(current - desired)
        if to_add:
            await self._api.call(
                "elbv2",
                "AddListenerCertificates",
                ListenerArn=listener_arn,
                Certificates=[{"CertificateArn": c} for c in to_add],
            )
        if to_remove:
            await self._api.call(
                "elbv2",
                "RemoveListenerCertificates",
                ListenerArn=listener_arn,
                Certificates=[{"CertificateArn": c} for c in to_remove],
            )

    async def _ensure_rules(
        self, listener_arn: str, rules: Sequence[ListenerRule], target_group_arns: Mapping[str, str]
    ) -> list[str]:
        existing = {
            int(rule["Priority"]): rule
            for rule in await self._api.paginate("elbv2", "DescribeRules", "Rules", ListenerArn=listener_arn)
            if not rule.get("IsDefault") and str(rule.get("Priority", "")).isdigit()
        }
        for rule in rules:
            conditions = [render_condition(c) for c in rule.conditions]
            actions = [render_action(rule.action, target_group_arns)]
            current = existing.get(rule.priority)
            if current is None:
                response = await self._api.call(
                    "elbv2",
                    "CreateRule",
                    ListenerArn=listener_arn,
                    Priority=rule.priority,
                    Conditions=conditions,
                    Actions=actions,
                )
                _log.info("created rule %s (priority %d)", response["Rules"][0]["RuleArn"], rule.priority)
                continue
            same_conditions = _conditions_key(current.get("Conditions") or ()) == _conditions_key(conditions)
            same_actions = _actions_key(current.get("Actions") or ()) == _actions_key(actions)
            if not (same_conditions and same_actions):
                await self._api.call(
                    "elbv2", "ModifyRule", RuleArn=current["RuleArn"], Conditions=conditions, Actions=actions
                )
                _log.info("modified rule %s (priority %d)", current["RuleArn"], rule.priority)
        wanted = {rule.priority for rule in rules}
        return [str(rule["RuleArn"]) for priority, rule in sorted(existing.items()) if priority not in wanted]

    async def delete_rule(self, rule_arn: str) -> bool:
        """``False`` if it was already gone (e.g. with its listener)."""
        try:
            await self._api.call("elbv2", "DeleteRule", RuleArn=rule_arn)
        except AwsApiError as error:
            if error.code == _RULE_NOT_FOUND:
                return False
            raise
        _log.info("deleted rule %s", rule_arn)
        return True

    async def delete_listener(self, listener_arn: str) -> bool:
        """``False`` if it was already gone; its rules go with it."""
        try:
            await self._api.call("elbv2", "DeleteListener", ListenerArn=listener_arn)
        except AwsApiError as error:
            if error.code == _LISTENER_NOT_FOUND:
                return False
            raise
        _log.info("deleted listener %s", listener_arn)
        return True
