"""Random TGB histories against moto through the AWS-like proxy, with faults injected between steps.

Invariants, checked against AWS (read directly from moto, so injected faults never hit the checks):

* no unlabelled rule is ever added, changed or removed;
* a live contribution, once covered on its SG, stays covered at every later step (also across a
  controller restart and across failed passes);
* after a successful pass of an SG: every desired rule is present, and if revoking is allowed the
  labelled rules are exactly the packing of the union of live contributions (an independent oracle:
  computed from the test's own model, not from ``RuleOwnership``).

Hypothesis drives a synchronous state machine, so the machine owns an event loop (``asyncio.Runner``)
and the AWS fixtures are opened inside it; moto itself is the session's ``moto_server``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from endpoint_stack import EndpointStack, build_stack
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.ec2_types import IpPermission
from controller.endpointsg.aws_rules import from_rule
from controller.endpointsg.model import ALL_PORTS, EndpointRule, PortRange, Source, SourceKind
from controller.endpointsg.packing import merge_ranges, pack_rules
from controller.naming import TGB_RULE_DESCRIPTION, cluster_tag_key
from controller.networking.rules import Rule, expand_ip_permissions
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import seed_vpc

T = TypeVar("T")
SG_COUNT = 3
TGBS = ("ns/a", "ns/b", "ns/c", "ns/d")
PORTS = (30000, 30001, 30002, 30100, 31000, 32767)
FAULTABLE = ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "DescribeSecurityGroups")


@dataclass
class Env:
    runner: asyncio.Runner
    api: AwsApi  # through the proxy: what the controller uses
    direct: AwsApi  # straight to moto: what the checks use
    proxy: AwsProxy
    backend_sg: str
    other_sg: str

    def run(self, coro: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await coro

        return self.runner.run(wrapper())


ENV: Env | None = None


def _sources(env: Env) -> list[Source]:
    return [
        Source.security_group(env.backend_sg),
        Source.security_group(env.other_sg),
        Source(SourceKind.IPV4_CIDR, "10.0.0.0/8"),
    ]


@st.composite
def contribution_rules(draw: st.DrawFn) -> EndpointRule:
    assert ENV is not None
    source = draw(st.sampled_from(_sources(ENV)))
    protocol = draw(st.sampled_from(["tcp", "udp"]))
    ports = draw(
        st.one_of(st.sampled_from(PORTS).map(PortRange.single), st.just(ALL_PORTS))
        if draw(st.integers(0, 9)) == 0
        else st.sampled_from(PORTS).map(PortRange.single)
    )
    return EndpointRule(protocol, ports, source)


# An error that surfaces (not retried), a transient one the client absorbs, and a persistent one that
# outlasts the client's retries.
FAULT_KINDS = (("UnauthorizedOperation", 403, 1), ("InternalError", 500, 1), ("InternalError", 500, 20))
faults: st.SearchStrategy[tuple[str, str, int, int] | None] = st.none() | st.builds(
    lambda operation, kind: (operation, *kind), st.sampled_from(FAULTABLE), st.sampled_from(FAULT_KINDS)
)

contributions = st.dictionaries(
    st.integers(0, SG_COUNT - 1),
    st.frozensets(contribution_rules(), min_size=1, max_size=3),
    max_size=SG_COUNT,
)


class EndpointRulesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        assert ENV is not None
        self.env = ENV
        self.live: dict[str, dict[str, frozenset[EndpointRule]]] = {}
        self.covered_once: set[tuple[str, EndpointRule]] = set()
        self.max_ranges = 8
        self.sgs: list[str] = []
        self.manual: dict[str, set[tuple[Rule, str]]] = {}
        self.stack: EndpointStack | None = None
        self.labelled_at_start: Counter[tuple[str, str, Source]] = Counter()

    # ------------------------------------------------------------------ setup

    @initialize(
        max_ranges=st.sampled_from([1, 2, 8]),
        initial=st.dictionaries(st.sampled_from(TGBS), contributions, min_size=1, max_size=3),
    )
    def setup(self, max_ranges: int, initial: dict[str, dict[int, frozenset[EndpointRule]]]) -> None:
        """Fresh SGs with manual rules, then a first set of TGBs converged (so there is state to lose)."""
        self.max_ranges = max_ranges
        self.env.proxy.faults.clear()
        vpc = self.env.run(seed_vpc(self.env.api, zones=("a",)))
        tags = {cluster_tag_key(vpc.cluster_name): "owned"}
        for index in range(SG_COUNT):
            response = self.env.run(
                self.env.api.call(
                    "ec2",
                    "CreateSecurityGroup",
                    GroupName=f"node-{index}",
                    Description="node",
                    VpcId=vpc.vpc_id,
                    TagSpecifications=[
                        {
                            "ResourceType": "security-group",
                            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                        }
                    ],
                )
            )
            sg = str(response["GroupId"])
            self.sgs.append(sg)
            # Manual rules overlapping what TGBs may ask for: they must never be touched.
            self.env.run(
                self.env.api.call(
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    GroupId=sg,
                    IpPermissions=[
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 30001,
                            "ToPort": 30001,
                            "UserIdGroupPairs": [{"GroupId": self.env.backend_sg, "Description": "manual"}],
                        },
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 30002,
                            "ToPort": 30002,
                            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ops"}],
                        },
                    ],
                )
            )
        snapshot = self._read_all()
        self.manual = {
            sg: {(r, r.description) for r in rules if r.description != TGB_RULE_DESCRIPTION}
            for sg, rules in snapshot.items()
        }
        self._start_process(vpc)
        for tgb, needs in initial.items():
            self.publish(tgb, needs, settle=False)
        self.reconcile(None)

    def _start_process(self, vpc: Any = None) -> None:
        """A controller (re)start: fresh memory, informer sync, GC seed."""
        if self.stack is not None:
            vpc = self.stack.vpc
            self.env.run(self.stack.reader.aclose())
        self.stack = build_stack(self.env.api, self.env.proxy, vpc, max_ranges=self.max_ranges)
        self.labelled_at_start = Counter(
            (sg, e.protocol, e.source)
            for sg, rules in self._read_all().items()
            for e in (from_rule(r) for r in rules if r.description == TGB_RULE_DESCRIPTION)
            if e is not None
        )
        self.stack.ownership.set_expected_tgbs(self.live.keys())
        self.env.run(self._seed())

    async def _seed(self) -> None:
        assert self.stack is not None
        for _ in range(3):  # a fault may hit the seed's describe; the controller would retry
            try:
                await self.stack.maintenance.seed_from_aws()
                return
            except Exception:
                continue
        self.env.proxy.faults.clear()
        await self.stack.maintenance.seed_from_aws()

    # ------------------------------------------------------------------ steps

    # Steps that change TGBs may reconcile right away (``settle``), as the workers usually would;
    # otherwise changes pile up and a later ``reconcile`` step coalesces them.

    @rule(tgb=st.sampled_from(TGBS), needs=contributions, settle=st.booleans())
    def publish(self, tgb: str, needs: dict[int, frozenset[EndpointRule]], settle: bool) -> None:
        assert self.stack is not None
        by_sg = {self.sgs[i]: rules for i, rules in needs.items()}
        # The informer sees the TGB before its reconcile publishes.
        self.stack.ownership.set_expected_tgbs({*self.live, tgb})
        self.stack.ownership.publish(tgb, by_sg)
        self.live[tgb] = by_sg
        if settle:
            self.reconcile(None)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), settle=st.booleans())
    def delete_tgb(self, data: st.DataObject, settle: bool) -> None:
        assert self.stack is not None
        tgb = data.draw(st.sampled_from(sorted(self.live)))
        self.stack.ownership.withdraw(tgb)  # finalizer runs while the TGB is still listed
        del self.live[tgb]
        self.stack.ownership.set_expected_tgbs(self.live.keys())
        if settle:
            self.reconcile(None)

    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        """A new process; some TGBs republish what they already needed, then workers run."""
        self._start_process()
        assert self.stack is not None
        for tgb in data.draw(
            st.lists(st.sampled_from(sorted(self.live)), unique=True) if self.live else st.just([])
        ):
            self.stack.ownership.publish(tgb, self.live[tgb])
        self.reconcile(None)

    @rule(fault=faults)
    def reconcile(self, fault: tuple[str, str, int, int] | None = None) -> None:
        """Drain the per-SG queue, optionally with one AWS fault scripted first."""
        assert self.stack is not None
        if fault is not None:
            operation, code, status, times = fault
            self.env.proxy.faults.fail(operation, code=code, status=status, times=times)
        stack = self.stack
        stack.outcomes.clear()
        failures = self.env.run(stack.drain())
        failed = {sg for sg, _ in failures}
        for sg in failed:
            stack.queue.add(sg)  # the controller would retry with backoff
        succeeded = {sg for sg, _ in stack.outcomes} - failed
        snapshot = self._read_all()
        for sg in succeeded:
            self._check_converged(sg, snapshot[sg])

    def teardown(self) -> None:
        if self.stack is None:
            return
        # Settle: no faults, every live TGB has published, everything reconciled.
        self.env.proxy.faults.clear()
        self.stack.ownership.set_expected_tgbs(self.live.keys())
        for tgb, by_sg in self.live.items():
            self.stack.ownership.publish(tgb, by_sg)
        for sg in self.sgs:
            self.stack.queue.add(sg)
        assert self.env.run(self.stack.drain()) == []
        assert self.stack.ownership.revoke_allowed
        snapshot = self._read_all()
        for sg in self.sgs:
            self._check_converged(sg, snapshot[sg])
        self.env.run(self.stack.reader.aclose())

    # ------------------------------------------------------------------ checks

    @invariant()
    def manual_rules_untouched_and_needed_rules_never_lost(self) -> None:
        if not self.sgs:
            return
        snapshot = self._read_all()
        for sg, rules in snapshot.items():
            unlabelled = {(r, r.description) for r in rules if r.description != TGB_RULE_DESCRIPTION}
            assert unlabelled == self.manual[sg], f"unlabelled rules on {sg} changed"
        live_needs = self._live_needs()
        self.covered_once &= live_needs
        for sg, need in sorted(self.covered_once, key=str):
            assert _covered(need, snapshot[sg]), f"{need} on {sg} was present and is now missing"
        for sg, need in live_needs:
            if _covered(need, snapshot[sg]):
                self.covered_once.add((sg, need))

    def _check_converged(self, sg: str, rules: list[Rule]) -> None:
        assert self.stack is not None
        union = frozenset().union(*(by_sg.get(sg, frozenset()) for by_sg in self.live.values()))
        expected = pack_rules(union, self.max_ranges)
        present = {e for e in (from_rule(r) for r in rules) if e is not None}
        labelled = {e for e in (from_rule(r) for r in rules if r.description == TGB_RULE_DESCRIPTION) if e}
        if self.stack.ownership.revoke_allowed:
            assert expected <= present, f"missing on {sg}: {expected - present}"
            assert labelled <= expected, f"stale labelled rules on {sg}: {labelled - expected}"
        else:
            # Authorize-only: what the known owners need is covered (the rules this process added are
            # packed with it, so the ranges may be wider than the packing of the needs alone).
            known = self.stack.ownership.contributions(sg)
            uncovered = {need for need in known if not _covered(need, rules)}
            assert not uncovered, f"missing on {sg}: {uncovered}"
            # Rules added since the restart never pile up: per (protocol, source SG), at most the
            # packing's ranges on top of the labelled rules found at the restart (CIDR rules are
            # never packed: one per port, as upstream).
            per_source = Counter((e.protocol, e.source) for e in labelled if not e.source.is_cidr)
            for key, count in per_source.items():
                allowed = self.labelled_at_start.get((sg, *key), 0) + self.max_ranges
                assert count <= allowed, f"stale ranges on {sg}: {sorted(map(str, labelled))}"

    def _live_needs(self) -> set[tuple[str, EndpointRule]]:
        return {(sg, rule) for by_sg in self.live.values() for sg, rules in by_sg.items() for rule in rules}

    def _read_all(self) -> dict[str, list[Rule]]:
        groups = self.env.run(
            self.env.direct.paginate(
                "ec2",
                "DescribeSecurityGroups",
                "SecurityGroups",
                Filters=[{"Name": "group-id", "Values": self.sgs}],
            )
        )
        return {
            str(g["GroupId"]): expand_ip_permissions(
                IpPermission.from_aws(p) for p in g.get("IpPermissions") or ()
            )
            for g in groups
        }


def _covered(need: EndpointRule, rules: list[Rule]) -> bool:
    ranges = [
        e.ports
        for e in (from_rule(r) for r in rules)
        if e is not None and e.protocol == need.protocol and e.source == need.source
    ]
    return any(run.covers(need.ports) for run in merge_ranges(ranges))


@pytest.fixture
def env(moto_server: MotoServer) -> Iterator[Env]:
    global ENV
    moto_server.reset()
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        exits = AsyncExitStack()

        async def open_env() -> Env:
            proxy = await exits.enter_async_context(AwsProxy(moto_server.url))
            api = await exits.enter_async_context(
                open_aws_client(sandbox_settings(proxy.url), CollectorRegistry())
            )
            direct = await exits.enter_async_context(
                open_aws_client(sandbox_settings(moto_server.url), CollectorRegistry())
            )
            vpc = await seed_vpc(api, zones=("a",))
            sources = []
            for name in ("backend", "other-lb"):
                response = await api.call(
                    "ec2", "CreateSecurityGroup", GroupName=name, Description=name, VpcId=vpc.vpc_id
                )
                sources.append(str(response["GroupId"]))
            return Env(runner, api, direct, proxy, sources[0], sources[1])

        ENV = runner.run(open_env())
        try:
            yield ENV
        finally:
            ENV = None
            runner.run(exits.aclose())


@pytest.mark.slow
@pytest.mark.timeout(600)  # a failing run shrinks against moto; let it finish and report
def test_endpoint_rules_state_machine(env: Env) -> None:
    run_state_machine_as_test(
        EndpointRulesMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
