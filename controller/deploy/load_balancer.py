"""The stack's load balancer: find by tags, create, converge SGs/subnets/IP type/tags, delete.

Name, type and scheme cannot change on an existing LB; if they differ, a new LB is created and
the old one is deleted with the other leftovers (before the create when it holds the same name,
since LB names are unique per account and region).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Final

from controller.aws.api import AwsApi
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import LoadBalancer, NewLoadBalancer
from controller.aws.errors import AwsApiError
from controller.deploy.elbv2_index import Elbv2Index
from controller.deploy.elbv2_tags import StackResources, TaggedResource, reconcile_elbv2_tags
from controller.model.load_balancer import LoadBalancerSpec
from controller.naming import StackTags

_log = logging.getLogger(__name__)

LOAD_BALANCER_NOT_FOUND: Final = "LoadBalancerNotFound"


def requires_replacement(spec: LoadBalancerSpec, existing: LoadBalancer) -> bool:
    return (
        existing.name != spec.name or existing.type != spec.type.value or existing.scheme != spec.scheme.value
    )


def subnet_ids_of(existing: LoadBalancer) -> frozenset[str]:
    return frozenset(existing.subnet_ids)


class LoadBalancerDeployer:
    """Every write it makes is reported to ``index`` (see ``Elbv2Index``)."""

    def __init__(self, api: AwsApi, index: Elbv2Index, *, ignored_tag_keys: Collection[str]) -> None:
        self._elbv2 = Elbv2(api)
        self._index = index
        self._ignored_tag_keys = ignored_tag_keys

    async def find(self, stack: StackTags) -> StackResources[LoadBalancer]:
        return await self._index.load_balancers(stack)

    async def create(
        self, spec: LoadBalancerSpec, *, security_groups: Sequence[str], subnet_ids: Sequence[str]
    ) -> LoadBalancer:
        created = await self._elbv2.create_load_balancer(
            NewLoadBalancer(
                name=spec.name,
                subnet_ids=tuple(subnet_ids),
                scheme=spec.scheme.value,
                type=spec.type.value,
                ip_address_type=spec.ip_address_type.value,
                tags=spec.tags,
                # An NLB created without SGs can never get any (upstream-behaviour §1.1), so an empty
                # list is sent as "no SecurityGroups", never as an empty parameter.
                security_groups=tuple(security_groups),
            )
        )
        self._index.load_balancer_created(created, spec.tags)
        _log.info("created load balancer %s (%s)", created.arn, spec.name)
        return created

    async def update(
        self,
        spec: LoadBalancerSpec,
        existing: TaggedResource[LoadBalancer],
        *,
        security_groups: Sequence[str],
        subnet_ids: Sequence[str],
    ) -> None:
        """Converge what can change in place. SetSecurityGroups runs here, before any SG the LB
        lets go of is deleted at the end of the deploy (upstream-behaviour §1.9, scenario 51)."""
        current = existing.description
        arn = existing.arn
        current_sgs = list(current.security_groups)
        if security_groups and set(current_sgs) != set(security_groups):
            await self._elbv2.set_security_groups(arn, security_groups)
            self._index.load_balancer_changed(arn, security_groups=security_groups)
            _log.info("set security groups of %s: %s -> %s", arn, current_sgs, list(security_groups))
        if subnet_ids_of(current) != frozenset(subnet_ids):
            await self._elbv2.set_subnets(arn, subnet_ids)
            self._index.load_balancer_changed(arn, subnet_ids=subnet_ids)
            _log.info("set subnets of %s: %s", arn, list(subnet_ids))
        if current.ip_address_type not in (None, spec.ip_address_type.value):
            await self._elbv2.set_ip_address_type(arn, spec.ip_address_type.value)
            self._index.load_balancer_changed(arn, ip_address_type=spec.ip_address_type.value)
        plan = await reconcile_elbv2_tags(
            self._elbv2, arn, spec.tags, existing.tags, ignored_keys=self._ignored_tag_keys
        )
        self._index.tags_changed(arn, plan)

    async def delete(self, arn: str) -> bool:
        """The LB is deleted (its listeners and rules go with it); ``False`` if already gone."""
        try:
            await self._elbv2.delete_load_balancer(arn)
        except AwsApiError as error:
            if error.code == LOAD_BALANCER_NOT_FOUND:
                self._index.deleted(arn)
                return False
            raise
        self._index.deleted(arn)
        _log.info("deleted load balancer %s", arn)
        return True
