"""The start-up hold of endpoint-SG passes, in virtual time (design.md Difference 2)."""

from __future__ import annotations

import pytest
from endpoint_stack import EndpointStack

from controller.endpointsg.model import EndpointRule, PortRange, Source
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.endpointsg.startup_hold import StartupHold, StartupHoldSettings
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from framework.clock import FakeClock
from framework.controller import Result


class Progress:
    """Stands in for the rule ownership: has every expected binding published?"""

    def __init__(self) -> None:
        self.all_expected_published = False


SETTINGS = StartupHoldSettings(timeout=10.0, poll_interval=1.0)


def test_held_until_every_binding_has_published_then_never_again() -> None:
    clock, progress = FakeClock(), Progress()
    hold = StartupHold(progress, clock=clock, settings=SETTINGS)
    assert hold.wait_seconds() == 1.0
    clock.advance(4.0)
    assert hold.wait_seconds() == 1.0
    progress.all_expected_published = True
    assert hold.wait_seconds() is None
    assert hold.released
    # A binding created later makes the set incomplete again: the hold does not come back.
    progress.all_expected_published = False
    assert hold.wait_seconds() is None


def test_a_binding_that_never_publishes_holds_no_longer_than_the_timeout() -> None:
    clock, progress = FakeClock(), Progress()
    hold = StartupHold(progress, clock=clock, settings=SETTINGS)
    assert hold.wait_seconds() == 1.0  # the first pass due starts the clock
    clock.advance(9.5)
    assert hold.wait_seconds() == pytest.approx(0.5)  # looks again right at the deadline
    clock.advance(0.5)
    assert hold.wait_seconds() is None
    assert hold.released


class Stacks:
    """Stands in for a stack controller: started yet, and how many keys it still has."""

    def __init__(self) -> None:
        self.started = False
        self.pending = 0


def test_at_a_cold_start_held_until_the_stacks_have_drained_and_their_bindings_published() -> None:
    # No binding exists yet, so "every expected binding published" is true from the start; the
    # stacks' first pass is what creates them.
    clock, progress, stacks = FakeClock(), Progress(), Stacks()
    progress.all_expected_published = True
    hold = StartupHold(progress, clock=clock, settings=SETTINGS)
    hold.add_upstream(stacks)
    assert hold.wait_seconds() == 1.0  # the stack controller has not started
    stacks.started, stacks.pending = True, 1200
    clock.advance(5.0)
    assert hold.wait_seconds() == 1.0
    stacks.pending = 0
    progress.all_expected_published = False  # the last stacks' bindings are still publishing
    assert hold.wait_seconds() == 1.0
    progress.all_expected_published = True
    assert hold.wait_seconds() is None
    assert hold.released


def test_a_long_first_pass_of_the_stacks_keeps_the_hold_and_the_timeout_counts_from_its_end() -> None:
    clock, progress, stacks = FakeClock(), Progress(), Stacks()
    stacks.started, stacks.pending = True, 100
    hold = StartupHold(progress, clock=clock, settings=SETTINGS)
    hold.add_upstream(stacks)
    assert hold.wait_seconds() == 1.0
    for _ in range(5):  # 60 s in all, far past the 10 s timeout; some steps make no progress
        clock.advance(12.0)
        assert hold.wait_seconds() == 1.0
    stacks.pending = 0  # done, but one binding never publishes
    assert hold.wait_seconds() == 1.0
    clock.advance(9.5)
    assert hold.wait_seconds() == pytest.approx(0.5)
    clock.advance(0.5)
    assert hold.wait_seconds() is None
    assert hold.released


def test_timeout_zero_disables_the_hold() -> None:
    hold = StartupHold(Progress(), clock=FakeClock(), settings=StartupHoldSettings(timeout=0.0))
    assert hold.released and hold.wait_seconds() is None


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="timeout"):
        StartupHoldSettings(timeout=-1.0)
    with pytest.raises(ValueError, match="poll_interval"):
        StartupHoldSettings(poll_interval=0.0)


def tcp(port: int, source: str) -> EndpointRule:
    return EndpointRule("tcp", PortRange.single(port), Source.security_group(source))


async def test_a_held_pass_calls_no_aws_and_asks_to_be_requeued(stack: EndpointStack) -> None:
    clock = FakeClock()
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    reconciler = EndpointSGReconciler(
        stack.ownership,
        SecurityGroupRuleReconciler(stack.api, stack.reader),
        clock=clock,
        startup_hold=StartupHold(stack.ownership, clock=clock, settings=SETTINGS),
    )
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    stack.proxy.reset_counts()

    assert await reconciler.reconcile(node_sg) == Result(requeue_after=1.0)
    assert sum(stack.proxy.calls_by_operation().values()) == 0

    # The last binding publishes: the pass runs, one Authorize for both ports.
    stack.ownership.publish("ns/b", {node_sg: [tcp(31443, backend)]})
    assert await reconciler.reconcile(node_sg) == Result()
    calls = stack.proxy.calls_by_operation()
    assert calls["AuthorizeSecurityGroupIngress"] == 1 and calls["RevokeSecurityGroupIngress"] == 0
    assert await stack.labelled(node_sg) == {tcp(30080, backend), tcp(31443, backend)}


async def test_a_direct_pass_is_never_held(stack: EndpointStack) -> None:
    # reconcile_sg is what the deletion path (DependencyViolation) calls: it must not wait.
    clock = FakeClock()
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    reconciler = EndpointSGReconciler(
        stack.ownership,
        SecurityGroupRuleReconciler(stack.api, stack.reader),
        clock=clock,
        startup_hold=StartupHold(stack.ownership, clock=clock, settings=SETTINGS),
    )
    stack.ownership.set_expected_tgbs(["ns/a", "ns/stuck"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    outcome = await reconciler.reconcile_sg(node_sg)
    assert outcome.changes.authorized
    assert await stack.labelled(node_sg) == {tcp(30080, backend)}
