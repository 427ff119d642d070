"""The stack's load balancer: find by tags, create, converge SGs/subnets/IP type/tags, delete.

Name, type and scheme cannot change on an existing LB; if they differ, a new LB is created and
the old one is deleted with the other leftovers (before the create when it holds the same name,
since LB names are unique per account and region).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.deploy.elbv2_tags import (
    StackResources,
    TaggedResource,
    elbv2_tag_list,
    find_stack_resources,
    reconcile_elbv2_tags,
)
from controller.model.load_balancer import LoadBalancerSpec
from controller.naming import StackTags

_log = logging.getLogger(__name__)

LOAD_BALANCER_NOT_FOUND: Final = "LoadBalancerNotFound"


def requires_replacement(spec: LoadBalancerSpec, existing: Mapping[str, Any]) -> bool:
    return (
        existing.get("LoadBalancerName") != spec.name
        or existing.get("Type") != spec.type.value
        or existing.get("Scheme") != spec.scheme.value
    )


def subnet_ids_of(existing: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(str(zone["SubnetId"]) for zone in existing.get("AvailabilityZones") or ())


class LoadBalancerDeployer:
    def __init__(self, api: AwsApi, *, vpc_id: str, ignored_tag_keys: Collection[str]) -> None:
        self._api = api
        self._vpc_id = vpc_id
        self._ignored_tag_keys = ignored_tag_keys

    async def find(self, stack: StackTags) -> StackResources:
        return await find_stack_resources(
            self._api,
            operation="DescribeLoadBalancers",
            result_key="LoadBalancers",
            arn_key="LoadBalancerArn",
            kind="loadBalancer",
            vpc_id=self._vpc_id,
            stack=stack,
        )

    async def create(
        self, spec: LoadBalancerSpec, *, security_groups: Sequence[str], subnet_ids: Sequence[str]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "Name": spec.name,
            "Subnets": list(subnet_ids),
            "Scheme": spec.scheme.value,
            "Type": spec.type.value,
            "IpAddressType": spec.ip_address_type.value,
            "Tags": elbv2_tag_list(spec.tags),
        }
        # An NLB created without SGs can never get any (upstream-behaviour §1.1), so an empty list is
        # sent as "no SecurityGroups", never as an empty parameter.
        if security_groups:
            params["SecurityGroups"] = list(security_groups)
        response = await self._api.call("elbv2", "CreateLoadBalancer", **params)
        created: dict[str, Any] = response["LoadBalancers"][0]
        _log.info("created load balancer %s (%s)", created["LoadBalancerArn"], spec.name)
        return created

    async def update(
        self,
        spec: LoadBalancerSpec,
        existing: TaggedResource,
        *,
        security_groups: Sequence[str],
        subnet_ids: Sequence[str],
    ) -> None:
        """Converge what can change in place. SetSecurityGroups runs here, before any SG the LB
        lets go of is deleted at the end of the deploy (upstream-behaviour §1.9, scenario 51)."""
        current = existing.description
        arn = existing.arn
        current_sgs = [str(g) for g in current.get("SecurityGroups") or ()]
        if security_groups and set(current_sgs) != set(security_groups):
            await self._api.call(
                "elbv2", "SetSecurityGroups", LoadBalancerArn=arn, SecurityGroups=list(security_groups)
            )
            _log.info("set security groups of %s: %s -> %s", arn, current_sgs, list(security_groups))
        if subnet_ids_of(current) != frozenset(subnet_ids):
            await self._api.call("elbv2", "SetSubnets", LoadBalancerArn=arn, Subnets=list(subnet_ids))
            _log.info("set subnets of %s: %s", arn, list(subnet_ids))
        if current.get("IpAddressType") not in (None, spec.ip_address_type.value):
            await self._api.call(
                "elbv2", "SetIpAddressType", LoadBalancerArn=arn, IpAddressType=spec.ip_address_type.value
            )
        await reconcile_elbv2_tags(
            self._api, arn, spec.tags, existing.tags, ignored_keys=self._ignored_tag_keys
        )

    async def delete(self, arn: str) -> bool:
        """DeleteLoadBalancer (its listeners and rules go with it); ``False`` if already gone."""
        try:
            await self._api.call("elbv2", "DeleteLoadBalancer", LoadBalancerArn=arn)
        except AwsApiError as error:
            if error.code == LOAD_BALANCER_NOT_FOUND:
                return False
            raise
        _log.info("deleted load balancer %s", arn)
        return True
