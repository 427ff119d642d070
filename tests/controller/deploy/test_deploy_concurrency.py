"""The independent steps of a deploy (managed SG, target groups, subnets) run at once, and fail as one.

The deployer is given an ``AwsApi`` that passes every call to the sandbox client (moto behind the
proxy) but can hold a call until another one was made: a hold that the sequential deployer could
never release gives up after ``GIVE_UP_SECONDS`` and says so, which fails the test (a bound for
the failing case only; nothing here measures time).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from deploy_factories import build_alb_model, ingress, node_port_service, stack_leftovers

from controller.annotations import ING_SCHEME
from controller.aws.api import AwsApi, Service
from controller.aws.errors import AwsApiError
from controller.deploy import StackDeployer, SubnetResolutionError
from controller.deploy.deployer import TARGET_GROUPS_IN_FLIGHT
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

GIVE_UP_SECONDS = 5.0
BACKENDS = TARGET_GROUPS_IN_FLIGHT + 2

Hook = Callable[[], Awaitable[None]]


class HoldingApi:
    """``api`` with hooks run before (``before[op]``, calls only) or after (``after[op]``) each
    call of an operation, and a count of each operation's calls in flight at once (``most_in_flight``)."""

    def __init__(self, api: AwsApi) -> None:
        self._api = api
        self.before: dict[str, Hook] = {}
        self.after: dict[str, Hook] = {}
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.gave_up: list[str] = []
        self.cancelled: list[str] = []

    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
        self.in_flight[operation] += 1
        self.most_in_flight[operation] = max(self.most_in_flight[operation], self.in_flight[operation])
        try:
            if (before := self.before.get(operation)) is not None:
                await before()
            answer = await self._api.call(service, operation, **params)
            if (after := self.after.get(operation)) is not None:
                await after()
            return answer
        except asyncio.CancelledError:
            self.cancelled.append(operation)
            raise
        finally:
            self.in_flight[operation] -= 1

    async def paginate(
        self, service: Service, operation: str, result_key: str, **params: Any
    ) -> list[dict[str, Any]]:
        answer = await self._api.paginate(service, operation, result_key, **params)
        if (after := self.after.get(operation)) is not None:
            await after()
        return answer

    async def wait(self, event: asyncio.Event, what: str) -> None:
        """Until ``event`` is set; after one hold gave up, none waits (the test fails anyway)."""
        if self.gave_up:
            return
        try:
            await asyncio.wait_for(event.wait(), GIVE_UP_SECONDS)
        except TimeoutError:
            self.gave_up.append(what)


def deployer_over(api: AwsApi, reader: SecurityGroupReader, vpc: SandboxVpc) -> StackDeployer:
    return StackDeployer(api, reader, cluster_name=vpc.cluster_name, vpc_id=vpc.vpc_id, requeue_after=7.0)


def operations(proxy: AwsProxy) -> list[str]:
    return [r.operation for r in proxy.request_log if r.outcome == "forwarded"]


async def test_the_managed_sg_and_the_target_groups_are_ensured_at_once_then_the_lb(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
    backend_sg: str,
) -> None:
    aws_proxy.reset_counts()  # the sandbox's and the backend SG's set-up calls
    api = HoldingApi(aws_api)
    services = [node_port_service(f"svc-{n}", node_port=32000 + n) for n in range(BACKENDS)]
    model = await build_alb_model(
        ingress(backends=[(f"/p{n}", f"svc-{n}") for n in range(BACKENDS)]), services=services
    )
    assert len(model.target_groups) == BACKENDS
    # The managed SG is created only once a target group exists; no target group create goes on
    # before as many creates as allowed are on the wire.
    target_group_made = asyncio.Event()
    all_slots_taken = asyncio.Event()

    async def until_all_slots_are_taken() -> None:
        if api.in_flight["CreateTargetGroup"] >= TARGET_GROUPS_IN_FLIGHT:
            all_slots_taken.set()
        await api.wait(all_slots_taken, "CreateTargetGroup")

    async def made() -> None:
        target_group_made.set()

    api.before["CreateTargetGroup"] = until_all_slots_are_taken
    api.after["CreateTargetGroup"] = made
    api.before["CreateSecurityGroup"] = lambda: api.wait(target_group_made, "CreateSecurityGroup")

    result = await deployer_over(api, deploy_reader, sandbox_vpc).deploy(model, backend_sg_id=backend_sg)

    assert api.gave_up == []
    # Bounded: never more target group creates of one stack at once than allowed.
    assert api.most_in_flight["CreateTargetGroup"] == TARGET_GROUPS_IN_FLIGHT
    log = operations(aws_proxy)
    assert log.index("CreateTargetGroup") < log.index("CreateSecurityGroup")
    # The LB waits for all three steps: the SG with its rule, every target group; then listeners.
    create_lb = log.index("CreateLoadBalancer")
    assert log.index("AuthorizeSecurityGroupIngress") < create_lb
    assert [i for i, op in enumerate(log) if op == "CreateTargetGroup"][-1] < create_lb
    assert create_lb < log.index("CreateListener") < log.index("CreateRule")
    # Results in the model's order, whatever order the creates finished in.
    assert list(result.target_group_arns) == [spec.resource_id for spec in model.target_groups]
    assert [tgb["spec"]["targetGroupARN"] for tgb in result.tgb_specs] == list(
        result.target_group_arns.values()
    )
    assert len(set(result.created_empty_target_group_arns)) == BACKENDS


async def test_a_failed_step_cancels_the_others_and_a_retry_finds_what_they_made(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
    backend_sg: str,
) -> None:
    """CreateSecurityGroup fails while a CreateTargetGroup that AWS carried out has not answered
    yet: the deploy raises the SG's error itself (not an ExceptionGroup), the target group's step
    is cancelled, and the retry finds that target group by its tags instead of making another."""
    aws_proxy.reset_counts()  # the sandbox's and the backend SG's set-up calls
    api = HoldingApi(aws_api)
    deployer = deployer_over(api, deploy_reader, sandbox_vpc)
    model = await build_alb_model(ingress())
    target_group_made, never = asyncio.Event(), asyncio.Event()

    async def answer_lost() -> None:
        target_group_made.set()
        await api.wait(never, "the deploy went on after a step failed")

    api.after["CreateTargetGroup"] = answer_lost
    api.before["CreateSecurityGroup"] = lambda: api.wait(target_group_made, "CreateSecurityGroup")
    aws_proxy.faults.fail("CreateSecurityGroup", code="InvalidParameterValue", status=400, message="no")

    with pytest.raises(AwsApiError) as failed:
        await deployer.deploy(model, backend_sg_id=backend_sg)

    assert failed.value.code == "InvalidParameterValue"
    assert api.gave_up == []
    assert api.cancelled == ["CreateTargetGroup"]
    (made,) = await stack_leftovers(aws_api, model.stack_tags)
    assert ":targetgroup/" in made
    assert not deployer.elbv2_index.knows(made)  # its answer never reached the index

    api.before.clear()
    api.after.clear()
    retried = await deployer.deploy(model, backend_sg_id=backend_sg)

    assert list(retried.target_group_arns.values()) == [made]
    assert retried.created_empty_target_group_arns == ()
    assert operations(aws_proxy).count("CreateTargetGroup") == 1
    assert operations(aws_proxy).count("CreateSecurityGroup") == 1
    assert sorted(await stack_leftovers(aws_api, model.stack_tags)) == sorted(
        [retried.lb_arn, made, retried.managed_sg_id]
    )


async def test_a_subnet_resolution_error_lets_the_other_steps_finish(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
    backend_sg: str,
) -> None:
    """As when it came after them: the SG and the target group are made and recorded, and the
    error (a fix of annotations or subnet tags is needed) invalidates nothing."""
    api = HoldingApi(aws_api)
    deployer = deployer_over(api, deploy_reader, sandbox_vpc)
    model = await build_alb_model(ingress(annotations={ING_SCHEME: "internal"}))  # no internal subnets
    subnets_read: list[None] = []
    resolution_failed = asyncio.Event()

    async def subnets_answered() -> None:
        subnets_read.append(None)
        if len(subnets_read) == 2:  # the cached read and the fresh one: the resolution fails now
            resolution_failed.set()

    api.after["DescribeSubnets"] = subnets_answered
    api.before["CreateTargetGroup"] = lambda: api.wait(resolution_failed, "CreateTargetGroup")

    with pytest.raises(SubnetResolutionError):
        await deployer.deploy(model, backend_sg_id=backend_sg)

    assert api.gave_up == [] and api.cancelled == []
    made = await stack_leftovers(aws_api, model.stack_tags)
    (target_group,) = [arn for arn in made if ":targetgroup/" in arn]
    assert deployer.elbv2_index.knows(target_group)
    assert any(group.startswith("sg-") for group in made)
    assert operations(aws_proxy).count("CreateLoadBalancer") == 0
