"""``Elbv2``: one method per ELBv2 operation the controller uses, over the one call path (``AwsApi``).

The facade only translates: our values in, AWS's request out, AWS's answer back as our values.
Retries, pacing and metrics stay in ``AwsApi``; describes that page are followed to the end here,
and DescribeTags is split into AWS's batches of 20 ARNs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from controller.aws.api import AwsApi
from controller.aws.ec2_types import tag_list
from controller.aws.elbv2_types import (
    HealthCheck,
    Listener,
    ListenerAction,
    ListenerCertificate,
    ListenerChanges,
    ListenerRule,
    LoadBalancer,
    NewListener,
    NewLoadBalancer,
    NewTargetGroup,
    RuleCondition,
    TargetGroup,
    TargetHealth,
    TargetRef,
    resource_tags,
)

DESCRIBE_TAGS_BATCH: Final = 20
"""DescribeTags takes at most 20 ARNs."""


def _actions(actions: Sequence[ListenerAction]) -> list[dict[str, Any]]:
    return [a.to_aws() for a in actions]


def _certificates(arns: Sequence[str]) -> list[dict[str, str]]:
    return [{"CertificateArn": arn} for arn in arns]


def _targets(targets: Sequence[TargetRef]) -> list[dict[str, Any]]:
    return [{"Id": t.target_id, "Port": t.port} for t in targets]


def _attributes(response: Mapping[str, Any]) -> dict[str, str]:
    return {str(a["Key"]): str(a.get("Value") or "") for a in response.get("Attributes") or ()}


def _attribute_list(attributes: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": attributes[key]} for key in sorted(attributes)]


class Elbv2:
    def __init__(self, api: AwsApi) -> None:
        self._api = api

    # ------------------------------------------------------------------------------------------ tags

    async def describe_tags(self, arns: Sequence[str]) -> dict[str, Mapping[str, str]]:
        """ARN → tags, for any number of ARNs (one call per 20)."""
        tags: dict[str, Mapping[str, str]] = {}
        for start in range(0, len(arns), DESCRIBE_TAGS_BATCH):
            response = await self._api.call(
                "elbv2", "DescribeTags", ResourceArns=list(arns[start : start + DESCRIBE_TAGS_BATCH])
            )
            tags.update(resource_tags(response.get("TagDescriptions") or ()))
        return tags

    async def add_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        await self._api.call("elbv2", "AddTags", ResourceArns=[arn], Tags=tag_list(tags))

    async def remove_tags(self, arn: str, keys: Sequence[str]) -> None:
        await self._api.call("elbv2", "RemoveTags", ResourceArns=[arn], TagKeys=list(keys))

    # -------------------------------------------------------------------------------- load balancers

    async def describe_load_balancers(self) -> list[LoadBalancer]:
        """Every load balancer of the account and region."""
        found = await self._api.paginate("elbv2", "DescribeLoadBalancers", "LoadBalancers")
        return [LoadBalancer.from_aws(lb) for lb in found]

    async def create_load_balancer(self, request: NewLoadBalancer) -> LoadBalancer:
        params: dict[str, Any] = {
            "Name": request.name,
            "Subnets": list(request.subnet_ids),
            "Scheme": request.scheme,
            "Type": request.type,
            "IpAddressType": request.ip_address_type,
            "Tags": tag_list(request.tags),
        }
        if request.security_groups:
            params["SecurityGroups"] = list(request.security_groups)
        response = await self._api.call("elbv2", "CreateLoadBalancer", **params)
        return LoadBalancer.from_aws(response["LoadBalancers"][0])

    async def set_security_groups(self, arn: str, security_groups: Sequence[str]) -> None:
        await self._api.call(
            "elbv2", "SetSecurityGroups", LoadBalancerArn=arn, SecurityGroups=list(security_groups)
        )

    async def set_subnets(self, arn: str, subnet_ids: Sequence[str]) -> None:
        await self._api.call("elbv2", "SetSubnets", LoadBalancerArn=arn, Subnets=list(subnet_ids))

    async def set_ip_address_type(self, arn: str, ip_address_type: str) -> None:
        await self._api.call("elbv2", "SetIpAddressType", LoadBalancerArn=arn, IpAddressType=ip_address_type)

    async def delete_load_balancer(self, arn: str) -> None:
        await self._api.call("elbv2", "DeleteLoadBalancer", LoadBalancerArn=arn)

    async def describe_load_balancer_attributes(self, arn: str) -> dict[str, str]:
        response = await self._api.call("elbv2", "DescribeLoadBalancerAttributes", LoadBalancerArn=arn)
        return _attributes(response)

    async def modify_load_balancer_attributes(self, arn: str, attributes: Mapping[str, str]) -> None:
        """Sends exactly ``attributes`` (keys in sorted order, as upstream)."""
        await self._api.call(
            "elbv2",
            "ModifyLoadBalancerAttributes",
            LoadBalancerArn=arn,
            Attributes=_attribute_list(attributes),
        )

    # --------------------------------------------------------------------------------- target groups

    async def describe_target_groups(self) -> list[TargetGroup]:
        """Every target group of the account and region."""
        found = await self._api.paginate("elbv2", "DescribeTargetGroups", "TargetGroups")
        return [TargetGroup.from_aws(tg) for tg in found]

    async def create_target_group(self, request: NewTargetGroup) -> str:
        """Creates the target group; returns its ARN."""
        params: dict[str, Any] = {
            "Name": request.name,
            "Protocol": request.protocol,
            "Port": request.port,
            "VpcId": request.vpc_id,
            "TargetType": request.target_type,
            "IpAddressType": request.ip_address_type,
            **request.health_check.to_aws(),
            "Tags": tag_list(request.tags),
        }
        if request.protocol_version is not None:
            params["ProtocolVersion"] = request.protocol_version
        response = await self._api.call("elbv2", "CreateTargetGroup", **params)
        return str(response["TargetGroups"][0]["TargetGroupArn"])

    async def modify_target_group(self, arn: str, health_check: HealthCheck) -> None:
        """Sends the health-check fields that are set, and only those."""
        await self._api.call("elbv2", "ModifyTargetGroup", TargetGroupArn=arn, **health_check.to_aws())

    async def describe_target_group_attributes(self, arn: str) -> dict[str, str]:
        response = await self._api.call("elbv2", "DescribeTargetGroupAttributes", TargetGroupArn=arn)
        return _attributes(response)

    async def modify_target_group_attributes(self, arn: str, attributes: Mapping[str, str]) -> None:
        await self._api.call(
            "elbv2", "ModifyTargetGroupAttributes", TargetGroupArn=arn, Attributes=_attribute_list(attributes)
        )

    async def delete_target_group(self, arn: str) -> None:
        await self._api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=arn)

    async def describe_target_health(self, target_group_arn: str) -> list[TargetHealth]:
        response = await self._api.call("elbv2", "DescribeTargetHealth", TargetGroupArn=target_group_arn)
        return [TargetHealth.from_aws(d) for d in response.get("TargetHealthDescriptions") or ()]

    async def register_targets(self, target_group_arn: str, targets: Sequence[TargetRef]) -> None:
        await self._api.call(
            "elbv2", "RegisterTargets", TargetGroupArn=target_group_arn, Targets=_targets(targets)
        )

    async def deregister_targets(self, target_group_arn: str, targets: Sequence[TargetRef]) -> None:
        await self._api.call(
            "elbv2", "DeregisterTargets", TargetGroupArn=target_group_arn, Targets=_targets(targets)
        )

    # ------------------------------------------------------------------------------------- listeners

    async def describe_listeners(self, load_balancer_arn: str) -> list[Listener]:
        found = await self._api.paginate(
            "elbv2", "DescribeListeners", "Listeners", LoadBalancerArn=load_balancer_arn
        )
        return [Listener.from_aws(listener) for listener in found]

    async def create_listener(self, request: NewListener) -> str:
        """Creates the listener; returns its ARN."""
        params: dict[str, Any] = {
            "LoadBalancerArn": request.load_balancer_arn,
            "Port": request.port,
            "Protocol": request.protocol,
            "DefaultActions": _actions(request.default_actions),
        }
        if request.certificate_arn is not None:
            params["Certificates"] = _certificates([request.certificate_arn])
        if request.ssl_policy is not None:
            params["SslPolicy"] = request.ssl_policy
        if request.alpn_policy is not None:
            params["AlpnPolicy"] = [request.alpn_policy]
        response = await self._api.call("elbv2", "CreateListener", **params)
        return str(response["Listeners"][0]["ListenerArn"])

    async def modify_listener(self, arn: str, changes: ListenerChanges) -> None:
        params: dict[str, Any] = {}
        if changes.protocol is not None:
            params["Protocol"] = changes.protocol
        if changes.default_actions is not None:
            params["DefaultActions"] = _actions(changes.default_actions)
        if changes.certificate_arn is not None:
            params["Certificates"] = _certificates([changes.certificate_arn])
        if changes.ssl_policy is not None:
            params["SslPolicy"] = changes.ssl_policy
        if changes.alpn_policy is not None:
            params["AlpnPolicy"] = [changes.alpn_policy]
        await self._api.call("elbv2", "ModifyListener", ListenerArn=arn, **params)

    async def delete_listener(self, arn: str) -> None:
        await self._api.call("elbv2", "DeleteListener", ListenerArn=arn)

    async def describe_listener_certificates(self, listener_arn: str) -> list[ListenerCertificate]:
        found = await self._api.paginate(
            "elbv2", "DescribeListenerCertificates", "Certificates", ListenerArn=listener_arn
        )
        return [ListenerCertificate(str(c["CertificateArn"]), bool(c.get("IsDefault"))) for c in found]

    async def add_listener_certificates(self, listener_arn: str, certificate_arns: Sequence[str]) -> None:
        await self._api.call(
            "elbv2",
            "AddListenerCertificates",
            ListenerArn=listener_arn,
            Certificates=_certificates(certificate_arns),
        )

    async def remove_listener_certificates(self, listener_arn: str, certificate_arns: Sequence[str]) -> None:
        await self._api.call(
            "elbv2",
            "RemoveListenerCertificates",
            ListenerArn=listener_arn,
            Certificates=_certificates(certificate_arns),
        )

    # ---------------------------------------------------------------------------------------- rules

    async def describe_rules(self, listener_arn: str) -> list[ListenerRule]:
        found = await self._api.paginate("elbv2", "DescribeRules", "Rules", ListenerArn=listener_arn)
        return [ListenerRule.from_aws(rule) for rule in found]

    async def create_rule(
        self,
        listener_arn: str,
        *,
        priority: int,
        conditions: Sequence[RuleCondition],
        actions: Sequence[ListenerAction],
    ) -> str:
        """Creates the rule; returns its ARN."""
        response = await self._api.call(
            "elbv2",
            "CreateRule",
            ListenerArn=listener_arn,
            Priority=priority,
            Conditions=[c.to_aws() for c in conditions],
            Actions=_actions(actions),
        )
        return str(response["Rules"][0]["RuleArn"])

    async def modify_rule(
        self, arn: str, *, conditions: Sequence[RuleCondition], actions: Sequence[ListenerAction]
    ) -> None:
        await self._api.call(
            "elbv2",
            "ModifyRule",
            RuleArn=arn,
            Conditions=[c.to_aws() for c in conditions],
            Actions=_actions(actions),
        )

    async def delete_rule(self, arn: str) -> None:
        await self._api.call("elbv2", "DeleteRule", RuleArn=arn)
