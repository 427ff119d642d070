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
from controller.deploy.attributes import reconcile_attributes
from controller.deploy.elbv2_index import Elbv2Index
from controller.deploy.elbv2_tags import StackResources, TaggedResource, reconcile_elbv2_tags
from controller.model.load_balancer import LoadBalancerSpec
from controller.naming import StackTags

_log = logging.getLogger(__name__)

LOAD_BALANCER_NOT_FOUND: Final = "LoadBalancerNotFound"
OPERATION_NOT_PERMITTED: Final = "OperationNotPermitted"
DELETION_PROTECTION_ATTRIBUTE: Final = "deletion_protection.enabled"


def refused_for_deletion_protection(error: AwsApiError) -> bool:
    """AWS's answer to DeleteLoadBalancer while ``deletion_protection.enabled`` is true:
    ``OperationNotPermitted``, "Load balancer '<arn>' cannot be deleted because deletion protection
    is enabled" (upstream matches the code and "deletion protection" in the message)."""
    return error.code == OPERATION_NOT_PERMITTED and "deletion protection" in error.message


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
        await self._attributes(spec, created.arn, created=True)
        return created

    async def _attributes(self, spec: LoadBalancerSpec, arn: str, *, created: bool) -> None:
        await reconcile_attributes(
            arn,
            spec.attributes,
            created=created,
            index=self._index,
            describe=self._elbv2.describe_load_balancer_attributes,
            modify=self._elbv2.modify_load_balancer_attributes,
        )

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
        await self._attributes(spec, arn, created=False)
        plan = await reconcile_elbv2_tags(
            self._elbv2, arn, spec.tags, existing.tags, ignored_keys=self._ignored_tag_keys
        )
        self._index.tags_changed(arn, plan)

    async def delete(self, arn: str) -> bool:
        """The LB is deleted (its listeners and rules go with it); ``False`` if already gone.

        Deletion protection left on in AWS while nothing asks for it any more (the reconcilers
        refuse to delete an object whose annotation still asks for it) is turned off and the
        delete repeated, as upstream does.
        """
        try:
            deleted = await self._delete(arn)
        except AwsApiError as error:
            if not refused_for_deletion_protection(error):
                raise
            _log.info(
                "load balancer %s has deletion protection on, which nothing asks for: turning it off", arn
            )
            sent = {DELETION_PROTECTION_ATTRIBUTE: "false"}
            await self._elbv2.modify_load_balancer_attributes(arn, sent)
            self._index.attributes_changed(arn, sent)
            deleted = await self._delete(arn)
        self._index.deleted(arn)
        if deleted:
            _log.info("deleted load balancer %s", arn)
        return deleted

    async def _delete(self, arn: str) -> bool:
        try:
            await self._elbv2.delete_load_balancer(arn)
        except AwsApiError as error:
            if error.code == LOAD_BALANCER_NOT_FOUND:
                return False
            raise
        return True
