"""The stack's target groups: find by tags, create, converge health check and tags, delete.

A target group whose immutable settings (protocol, port, target type, IP address type, protocol
version) differ from the spec is replaced: a new one is created, listeners are pointed at it, and
the old one is deleted with the other leftovers at the end of the deploy.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, replace

from controller.aws.api import AwsApi
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import HealthCheck, Matcher, NewTargetGroup, TargetGroup
from controller.aws.errors import AwsApiError
from controller.deploy.attributes import reconcile_attributes
from controller.deploy.elbv2_index import Elbv2Index
from controller.deploy.elbv2_tags import StackResources, TaggedResource, reconcile_elbv2_tags
from controller.model.target_group import TargetGroupSpec
from controller.naming import StackTags

_log = logging.getLogger(__name__)

TARGET_GROUP_NOT_FOUND = "TargetGroupNotFound"
RESOURCE_IN_USE = "ResourceInUse"
_HTTP_PROTOCOLS = frozenset({"HTTP", "HTTPS"})


class TargetGroupStillInUse(Exception):
    def __init__(self, arn: str, cause: AwsApiError) -> None:
        super().__init__(f"failed to delete targetGroup {arn}: {cause.code}: {cause.message}")
        self.arn = arn
        self.cause = cause


@dataclass(frozen=True)
class EnsuredTargetGroup:
    arn: str
    replaced: TaggedResource[TargetGroup] | None
    """The existing target group this one replaces (to delete once nothing references it)."""
    created_empty: bool = False
    """Created by this call and new to AWS, so it has no targets yet (CreateTargetGroup answers
    with an existing group of the same name and settings, which may have some)."""


def health_check_params(spec: TargetGroupSpec) -> HealthCheck:
    """The health-check fields of Create/ModifyTargetGroup, as AWS also reports them."""
    check = spec.health_check
    matcher: Matcher | None = None
    if check.matcher is not None:
        grpc = spec.protocol_version == "GRPC"
        matcher = Matcher(grpc_code=check.matcher) if grpc else Matcher(http_code=check.matcher)
    return HealthCheck(
        protocol=check.protocol,
        port=check.port,
        interval_seconds=check.interval_seconds,
        timeout_seconds=check.timeout_seconds,
        healthy_threshold=check.healthy_threshold,
        unhealthy_threshold=check.unhealthy_threshold,
        path=check.path if check.protocol in _HTTP_PROTOCOLS else None,
        matcher=matcher,
    )


def _protocol_version(spec: TargetGroupSpec) -> str | None:
    # ProtocolVersion exists only for HTTP/HTTPS (ALB) target groups.
    return spec.protocol_version if spec.protocol in _HTTP_PROTOCOLS else None


def _new_target_group(spec: TargetGroupSpec, vpc_id: str) -> NewTargetGroup:
    return NewTargetGroup(
        name=spec.name,
        protocol=spec.protocol,
        port=spec.port,
        vpc_id=vpc_id,
        target_type=spec.target_type.value,
        ip_address_type=spec.ip_address_type,
        health_check=health_check_params(spec),
        tags=spec.tags,
        protocol_version=_protocol_version(spec),
    )


def requires_replacement(spec: TargetGroupSpec, existing: TargetGroup) -> bool:
    """Immutable settings differ. Fields AWS (or moto) does not report are not compared."""
    wanted: list[tuple[object, object]] = [
        (existing.protocol, spec.protocol),
        (existing.port, spec.port),
        (existing.target_type, spec.target_type.value),
        (existing.ip_address_type, spec.ip_address_type),
    ]
    protocol_version = _protocol_version(spec)
    if protocol_version is not None:
        wanted.append((existing.protocol_version, protocol_version))
    return any(current is not None and current != value for current, value in wanted)


def health_check_changes(spec: TargetGroupSpec, existing: TargetGroup) -> HealthCheck:
    """The desired health-check fields that differ from what AWS reports (the rest left unset)."""
    desired = health_check_params(spec)
    reported = existing.health_check
    unchanged = {
        name: None for name, value in desired.set_fields().items() if getattr(reported, name) == value
    }
    return replace(desired, **unchanged)


def _described(arn: str, request: NewTargetGroup) -> TargetGroup:
    """The new target group as DescribeTargetGroups would report what we asked for."""
    return TargetGroup(
        arn=arn,
        name=request.name,
        vpc_id=request.vpc_id,
        protocol=request.protocol,
        port=request.port,
        target_type=request.target_type,
        ip_address_type=request.ip_address_type,
        protocol_version=request.protocol_version,
        health_check=request.health_check,
    )


class TargetGroupDeployer:
    """Every write it makes is reported to ``index`` (see ``Elbv2Index``)."""

    def __init__(
        self, api: AwsApi, index: Elbv2Index, *, vpc_id: str, ignored_tag_keys: Collection[str]
    ) -> None:
        self._elbv2 = Elbv2(api)
        self._index = index
        self._vpc_id = vpc_id
        self._ignored_tag_keys = ignored_tag_keys

    async def find(self, stack: StackTags) -> StackResources[TargetGroup]:
        return await self._index.target_groups(stack)

    async def ensure(
        self, spec: TargetGroupSpec, existing: TaggedResource[TargetGroup] | None
    ) -> EnsuredTargetGroup:
        if existing is not None and not requires_replacement(spec, existing.description):
            changes = health_check_changes(spec, existing.description)
            if changes.set_fields():
                await self._elbv2.modify_target_group(existing.arn, changes)
                self._index.target_group_health_check_changed(existing.arn, changes)
                _log.info(
                    "modified health check of target group %s: %s", existing.arn, sorted(changes.to_aws())
                )
            plan = await reconcile_elbv2_tags(
                self._elbv2, existing.arn, spec.tags, existing.tags, ignored_keys=self._ignored_tag_keys
            )
            self._index.tags_changed(existing.arn, plan)
            await self._attributes(spec, existing.arn, created=False)
            return EnsuredTargetGroup(existing.arn, None)
        request = _new_target_group(spec, self._vpc_id)
        arn = await self._elbv2.create_target_group(request)
        already_known = self._index.knows(arn)
        self._index.target_group_created(_described(arn, request), spec.tags)
        _log.info("created target group %s (%s)", arn, spec.name)
        # CreateTargetGroup may answer with an existing group of that name: its attributes are read.
        await self._attributes(spec, arn, created=not already_known)
        return EnsuredTargetGroup(arn, existing, created_empty=not already_known)

    async def _attributes(self, spec: TargetGroupSpec, arn: str, *, created: bool) -> None:
        await reconcile_attributes(
            arn,
            spec.attributes,
            created=created,
            index=self._index,
            describe=self._elbv2.describe_target_group_attributes,
            modify=self._elbv2.modify_target_group_attributes,
        )

    async def delete(self, arn: str) -> bool:
        """``False`` if already gone; ``TargetGroupStillInUse`` while a listener or rule uses it."""
        try:
            await self._elbv2.delete_target_group(arn)
        except AwsApiError as error:
            if error.code == TARGET_GROUP_NOT_FOUND:
                self._index.deleted(arn)
                return False
            if error.code == RESOURCE_IN_USE:
                raise TargetGroupStillInUse(arn, error) from error
            raise
        self._index.deleted(arn)
        _log.info("deleted target group %s", arn)
        return True
