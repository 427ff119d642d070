"""``DryRunAwsApi``: the controller's own deploy code runs unchanged, and nothing in AWS changes.

``plan`` does not compute a second diff: it runs the same deployers, backend-SG manager and
endpoint-SG reconciler the controller runs, over this ``AwsApi``. Reads (``Describe*``) go to AWS
through the real client (same retries, throttling and metrics); every other operation is recorded
as a ``PlannedCall`` and answered as AWS would answer a success, so the code goes on to its next
decision exactly as after a real call. Whatever the deployers would send is therefore what ``plan``
lists, by construction.

Read-only by default, not by list: an operation is forwarded only if its name starts with
``Describe``. A write the controller may learn one day is recorded, never sent.

What a recorded create "makes" is remembered, so the reads that follow it in the same pass see it:
a new SG (``planned-sg-N``) is described with its name, tags and no rules; a new load balancer,
listener or target group (``planned-arn:...``) has no listeners, rules, certificates or targets.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.aws.api import AwsApi, Service

PLANNED_SG_PREFIX: Final = "planned-sg-"
PLANNED_ARN_PREFIX: Final = "planned-arn:"
READ_PREFIX: Final = "Describe"


def is_read_only(operation: str) -> bool:
    """Whether ``plan`` may send ``operation`` to AWS."""
    return operation.startswith(READ_PREFIX)


def is_planned_id(value: str) -> bool:
    """An id or ARN that only exists in the plan (made by a recorded create)."""
    return value.startswith((PLANNED_SG_PREFIX, PLANNED_ARN_PREFIX))


@dataclass(frozen=True)
class PlannedCall:
    """One write the controller would send: its service, operation and AWS-cased parameters."""

    service: Service
    operation: str
    params: Mapping[str, Any] = field(hash=False)
    result_id: str | None = None
    """The planned id or ARN a create answered with (``planned-sg-1``, ``planned-arn:...``)."""


class DryRunAwsApi:
    """An ``AwsApi`` that forwards reads to ``api`` and records everything else; see the module."""

    def __init__(self, api: AwsApi) -> None:
        self._api = api
        # One count per operation: the deployer makes the managed SG and the target groups at once,
        # so a shared count would number an SG by how many target groups happened to come first.
        self._counters: dict[str, Iterator[int]] = {}
        self.calls: list[PlannedCall] = []
        self._planned_sgs: dict[str, dict[str, Any]] = {}
        self.load_balancers_seen: dict[str, dict[str, Any]] = {}
        """ARN → description, from every DescribeLoadBalancers answer (what an LB looks like now)."""
        self.target_groups_seen: dict[str, dict[str, Any]] = {}
        self.listeners_seen: dict[str, dict[str, Any]] = {}
        self.rules_seen: dict[str, dict[str, Any]] = {}

    # ----------------------------------------------------------------------------- AwsApi

    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
        if not is_read_only(operation):
            return self._record(service, operation, params)
        if not _planned_ids_in(params):
            return await self._api.call(service, operation, **params)
        if operation == "DescribeTags":
            real = [arn for arn in params.get("ResourceArns") or () if not is_planned_id(arn)]
            if real:
                return await self._api.call(service, operation, **{**params, "ResourceArns": real})
        # Any other read naming a planned resource (DescribeTargetHealth of a new target group):
        # it has nothing yet.
        return {}

    async def paginate(
        self, service: Service, operation: str, result_key: str, **params: Any
    ) -> list[dict[str, Any]]:
        if not is_read_only(operation):
            # No write paginates; recording keeps the promise if one ever does.
            self._record(service, operation, params)
            return []
        planned = _planned_ids_in(params)
        if planned:
            if operation == "DescribeSecurityGroups":
                return await self._describe_groups(params, service, result_key)
            return []  # a listener, rule, certificate or target of a planned resource: none yet
        found = await self._api.paginate(service, operation, result_key, **params)
        self._remember(operation, found)
        return found

    # ----------------------------------------------------------------------------- writes

    def _record(self, service: Service, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        frozen = copy.deepcopy(dict(params))
        response, result_id = self._answer(operation, frozen)
        self.calls.append(PlannedCall(service, operation, frozen, result_id))
        return response

    def _answer(self, operation: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """What AWS answers when ``operation`` succeeds (only the fields the facades read)."""
        number = next(self._counters.setdefault(operation, itertools.count(1)))
        if operation == "CreateSecurityGroup":
            group_id = f"{PLANNED_SG_PREFIX}{number}"
            tags = [t for spec in params.get("TagSpecifications") or () for t in spec.get("Tags") or ()]
            self._planned_sgs[group_id] = {
                "GroupId": group_id,
                "GroupName": params.get("GroupName", ""),
                "Description": params.get("Description", ""),
                "VpcId": params.get("VpcId"),
                "Tags": tags,
                "IpPermissions": [],
            }
            return {"GroupId": group_id}, group_id
        if operation == "CreateLoadBalancer":
            arn = f"{PLANNED_ARN_PREFIX}loadbalancer/{params.get('Name', number)}"
            description = {
                "LoadBalancerArn": arn,
                "LoadBalancerName": params.get("Name"),
                "Type": params.get("Type"),
                "Scheme": params.get("Scheme"),
                "IpAddressType": params.get("IpAddressType"),
                "DNSName": "(known after apply)",
                "SecurityGroups": list(params.get("SecurityGroups") or ()),
                "AvailabilityZones": [{"SubnetId": s} for s in params.get("Subnets") or ()],
            }
            return {"LoadBalancers": [description]}, arn
        if operation == "CreateTargetGroup":
            arn = f"{PLANNED_ARN_PREFIX}targetgroup/{params.get('Name', number)}"
            return {"TargetGroups": [{"TargetGroupArn": arn, "TargetGroupName": params.get("Name")}]}, arn
        if operation == "CreateListener":
            arn = f"{PLANNED_ARN_PREFIX}listener/{params.get('Port', '')}/{number}"
            return {"Listeners": [{"ListenerArn": arn}]}, arn
        if operation == "CreateRule":
            arn = f"{PLANNED_ARN_PREFIX}listener-rule/{params.get('Priority', '')}/{number}"
            return {"Rules": [{"RuleArn": arn}]}, arn
        return {}, None

    # ----------------------------------------------------------------------------- reads

    async def _describe_groups(
        self, params: Mapping[str, Any], service: Service, result_key: str
    ) -> list[dict[str, Any]]:
        """Planned SGs asked for by id (``GroupIds`` or a ``group-id`` filter) as created; AWS is
        asked only about the real ones. A filter left with no real value (e.g. SGs whose rules
        reference a planned SG) matches nothing in AWS."""
        ids: Sequence[str] = params.get("GroupIds") or ()
        filters: list[dict[str, Any]] = [dict(f) for f in params.get("Filters") or ()]
        wanted = [i for i in ids if i in self._planned_sgs]
        for entry in filters:
            values = [str(v) for v in entry.get("Values") or ()]
            if entry.get("Name") == "group-id":
                wanted += [v for v in values if v in self._planned_sgs]
            entry["Values"] = [v for v in values if not is_planned_id(v)]
        found = [copy.deepcopy(self._planned_sgs[i]) for i in dict.fromkeys(wanted)]
        real_ids = [i for i in ids if not is_planned_id(i)]
        if (ids and not real_ids) or any(not f["Values"] for f in filters):
            return found
        rest: dict[str, Any] = {**params}
        if ids:
            rest["GroupIds"] = real_ids
        if filters:
            rest["Filters"] = filters
        return found + await self._api.paginate(service, "DescribeSecurityGroups", result_key, **rest)

    def _remember(self, operation: str, found: list[dict[str, Any]]) -> None:
        if operation == "DescribeLoadBalancers":
            self.load_balancers_seen.update({str(lb["LoadBalancerArn"]): lb for lb in found})
        elif operation == "DescribeTargetGroups":
            self.target_groups_seen.update({str(tg["TargetGroupArn"]): tg for tg in found})
        elif operation == "DescribeListeners":
            self.listeners_seen.update({str(li["ListenerArn"]): li for li in found})
        elif operation == "DescribeRules":
            self.rules_seen.update({str(rule["RuleArn"]): rule for rule in found})

    def planned_security_group(self, group_id: str) -> Mapping[str, Any] | None:
        return self._planned_sgs.get(group_id)


def _planned_ids_in(value: Any) -> set[str]:
    """Every planned id or ARN anywhere in a request's parameters."""
    if isinstance(value, str):
        return {value} if is_planned_id(value) else set()
    if isinstance(value, Mapping):
        return set().union(*(_planned_ids_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_planned_ids_in(v) for v in value)) if value else set()
    return set()
