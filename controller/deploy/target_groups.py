"""The stack's target groups: find by tags, create, converge health check and tags, delete.

A target group whose immutable settings (protocol, port, target type, IP address type, protocol
version) differ from the spec is replaced: a new one is created, listeners are pointed at it, and
the old one is deleted with the other leftovers at the end of the deploy.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.deploy.elbv2_tags import (
    StackResources,
    TaggedResource,
    elbv2_tag_list,
    find_stack_resources,
    reconcile_elbv2_tags,
)
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
    replaced: TaggedResource | None
    """The existing target group this one replaces (to delete once nothing references it)."""


def health_check_params(spec: TargetGroupSpec) -> dict[str, Any]:
    """The health-check fields of Create/ModifyTargetGroup, as AWS also reports them."""
    check = spec.health_check
    params: dict[str, Any] = {
        "HealthCheckProtocol": check.protocol,
        "HealthCheckPort": check.port,
        "HealthCheckIntervalSeconds": check.interval_seconds,
        "HealthCheckTimeoutSeconds": check.timeout_seconds,
        "HealthyThresholdCount": check.healthy_threshold,
        "UnhealthyThresholdCount": check.unhealthy_threshold,
    }
    if check.protocol in _HTTP_PROTOCOLS and check.path is not None:
        params["HealthCheckPath"] = check.path
    if check.matcher is not None:
        grpc = spec.protocol_version == "GRPC"
        params["Matcher"] = {"GrpcCode": check.matcher} if grpc else {"HttpCode": check.matcher}
    return params


def _create_params(spec: TargetGroupSpec, vpc_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Name": spec.name,
        "Protocol": spec.protocol,
        "Port": spec.port,
        "VpcId": vpc_id,
        "TargetType": spec.target_type.value,
        "IpAddressType": spec.ip_address_type,
        **health_check_params(spec),
        "Tags": elbv2_tag_list(spec.tags),
    }
    # ProtocolVersion exists only for HTTP/HTTPS (ALB) target groups.
    if spec.protocol_version is not None and spec.protocol in _HTTP_PROTOCOLS:
        params["ProtocolVersion"] = spec.protocol_version
    return params


def requires_replacement(spec: TargetGroupSpec, existing: Mapping[str, Any]) -> bool:
    """Immutable settings differ. Fields AWS (or moto) does not report are not compared."""
    wanted: dict[str, object] = {
        "Protocol": spec.protocol,
        "Port": spec.port,
        "TargetType": spec.target_type.value,
        "IpAddressType": spec.ip_address_type,
    }
    if spec.protocol_version is not None and spec.protocol in _HTTP_PROTOCOLS:
        wanted["ProtocolVersion"] = spec.protocol_version
    return any(key in existing and existing[key] != value for key, value in wanted.items())


def health_check_changes(spec: TargetGroupSpec, existing: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in health_check_params(spec).items() if existing.get(key) != value}


class TargetGroupDeployer:
    def __init__(self, api: AwsApi, *, vpc_id: str, ignored_tag_keys: Collection[str]) -> None:
        self._api = api
        self._vpc_id = vpc_id
        self._ignored_tag_keys = ignored_tag_keys

    async def find(self, stack: StackTags) -> StackResources:
        return await find_stack_resources(
            self._api,
            operation="DescribeTargetGroups",
            result_key="TargetGroups",
            arn_key="TargetGroupArn",
            kind="targetGroup",
            vpc_id=self._vpc_id,
            stack=stack,
        )

    async def ensure(self, spec: TargetGroupSpec, existing: TaggedResource | None) -> EnsuredTargetGroup:
        if existing is not None and not requires_replacement(spec, existing.description):
            changes = health_check_changes(spec, existing.description)
            if changes:
                await self._api.call("elbv2", "ModifyTargetGroup", TargetGroupArn=existing.arn, **changes)
                _log.info("modified health check of target group %s: %s", existing.arn, sorted(changes))
            await reconcile_elbv2_tags(
                self._api, existing.arn, spec.tags, existing.tags, ignored_keys=self._ignored_tag_keys
            )
            return EnsuredTargetGroup(existing.arn, None)
        response = await self._api.call("elbv2", "CreateTargetGroup", **_create_params(spec, self._vpc_id))
        arn = str(response["TargetGroups"][0]["TargetGroupArn"])
        _log.info("created target group %s (%s)", arn, spec.name)
        return EnsuredTargetGroup(arn, existing)

    async def delete(self, arn: str) -> bool:
        """``False`` if already gone; ``TargetGroupStillInUse`` while a listener or rule uses it."""
        try:
            await self._api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=arn)
        except AwsApiError as error:
            if error.code == TARGET_GROUP_NOT_FOUND:
                return False
            if error.code == RESOURCE_IN_USE:
                raise TargetGroupStillInUse(arn, error) from error
            raise
        _log.info("deleted target group %s", arn)
        return True
