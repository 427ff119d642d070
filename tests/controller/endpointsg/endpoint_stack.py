"""Test helpers: a wired endpoint-SG rule stack against moto behind the AWS-like proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.aws.api import AwsApi
from controller.aws.ec2_types import IpPermission
from controller.aws.errors import AwsApiError
from controller.endpointsg.aws_rules import from_rule
from controller.endpointsg.maintenance import EndpointSGMaintenance
from controller.endpointsg.model import EndpointRule
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGOutcome, EndpointSGReconciler
from controller.naming import TGB_RULE_DESCRIPTION
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.rules import Rule, expand_ip_permissions
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.controller import Reconciler, Result
from framework.workqueue.queue import WorkQueue

IDLE_TIMEOUT_SECONDS = 30.0
MAINTENANCE_SYNC_PERIOD = 3600.0


class IdleWatcher:
    """Wraps a reconciler; ``await wait_idle()`` returns once the controller's queue has nothing ready
    or in flight after a reconcile finished (the worker calls ``done`` before the next loop turn)."""

    def __init__(self, inner: Reconciler[str]) -> None:
        self._inner = inner
        self.queue: WorkQueue[str] | None = None
        self._idle = asyncio.Event()

    async def reconcile(self, key: str) -> Result:
        try:
            return await self._inner.reconcile(key)
        finally:
            asyncio.get_running_loop().call_soon(self._check)

    def _check(self) -> None:
        if self.queue is not None and not len(self.queue) and not self.queue.processing_count:
            self._idle.set()

    async def wait_idle(self) -> None:
        async with asyncio.timeout(IDLE_TIMEOUT_SECONDS):
            await self._idle.wait()
        self._idle.clear()


@dataclass
class EndpointStack:
    api: AwsApi
    proxy: AwsProxy
    vpc: SandboxVpc
    queue: WorkQueue[str]
    reader: SecurityGroupReader
    ownership: RuleOwnership
    rules: EndpointSGReconciler
    maintenance: EndpointSGMaintenance
    """Not started: tests call its ``seed_from_aws`` (the GC seed) directly."""
    outcomes: list[tuple[str, EndpointSGOutcome]] = field(default_factory=list)

    async def drain(self) -> list[tuple[str, AwsApiError]]:
        """Run queued SG reconciles until the queue is empty; failed keys are collected, not retried."""
        failures: list[tuple[str, AwsApiError]] = []
        while True:
            try:
                sg = self.queue.get_nowait()
            except LookupError:
                return failures
            try:
                self.outcomes.append((sg, await self.rules.reconcile_sg(sg)))
            except AwsApiError as error:
                failures.append((sg, error))
            finally:
                self.queue.done(sg)

    async def create_sg(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        params: dict[str, object] = {"GroupName": name, "Description": name, "VpcId": self.vpc.vpc_id}
        if tags:
            params["TagSpecifications"] = [
                {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        response = await self.api.call("ec2", "CreateSecurityGroup", **params)
        return str(response["GroupId"])

    async def ingress(self, sg: str) -> list[Rule]:
        groups = await self.api.paginate(
            "ec2", "DescribeSecurityGroups", "SecurityGroups", Filters=[{"Name": "group-id", "Values": [sg]}]
        )
        return expand_ip_permissions(IpPermission.from_aws(p) for p in groups[0].get("IpPermissions") or ())

    async def labelled(self, sg: str) -> set[EndpointRule]:
        found = {from_rule(r) for r in await self.ingress(sg) if r.description == TGB_RULE_DESCRIPTION}
        return {r for r in found if r is not None}

    async def authorize_raw(self, sg: str, permission: dict[str, object]) -> None:
        await self.api.call("ec2", "AuthorizeSecurityGroupIngress", GroupId=sg, IpPermissions=[permission])

    def restart(self, *, max_ranges: int | None = None) -> None:
        """A new process: empty memory, same AWS."""
        self.queue = WorkQueue()
        self.reader = SecurityGroupReader(self.api)
        self.ownership = RuleOwnership(
            self.queue.add, max_port_ranges_per_source=max_ranges or self.ownership_max_ranges
        )
        self.rules = EndpointSGReconciler(self.ownership, SecurityGroupRuleReconciler(self.api, self.reader))
        self.maintenance = _maintenance(self.ownership, self.rules, self.reader, self.vpc)

    ownership_max_ranges: int = 8


def _maintenance(
    ownership: RuleOwnership, rules: EndpointSGReconciler, reader: SecurityGroupReader, vpc: SandboxVpc
) -> EndpointSGMaintenance:
    return EndpointSGMaintenance(
        ownership,
        rules,
        reader=reader,
        vpc_id=vpc.vpc_id,
        cluster_name=vpc.cluster_name,
        sync_period=MAINTENANCE_SYNC_PERIOD,
    )


def build_stack(api: AwsApi, proxy: AwsProxy, vpc: SandboxVpc, max_ranges: int = 8) -> EndpointStack:
    queue: WorkQueue[str] = WorkQueue()
    ownership = RuleOwnership(queue.add, max_port_ranges_per_source=max_ranges)
    reader = SecurityGroupReader(api)
    rules = EndpointSGReconciler(ownership, SecurityGroupRuleReconciler(api, reader))
    return EndpointStack(
        api=api,
        proxy=proxy,
        vpc=vpc,
        queue=queue,
        reader=reader,
        ownership=ownership,
        rules=rules,
        maintenance=_maintenance(ownership, rules, reader, vpc),
        ownership_max_ranges=max_ranges,
    )
