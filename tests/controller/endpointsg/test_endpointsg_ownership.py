"""Reference counting of endpoint SG rules (design.md Difference 2)."""

from __future__ import annotations

from controller.endpointsg.model import EndpointRule, PortRange, Source, SourceKind
from controller.endpointsg.ownership import RuleOwnership

BACKEND = Source.security_group("sg-backend")


def tcp(port: int) -> EndpointRule:
    return EndpointRule("tcp", PortRange.single(port), BACKEND)


def _not_queued(sg_id: str) -> None:
    """These tests read what the mutators return; the test below checks that it is what they enqueue."""


def test_every_mutator_enqueues_exactly_the_sg_ids_it_returns() -> None:
    enqueued: list[str] = []
    own = RuleOwnership(enqueued.append, max_port_ranges_per_source=8)

    def check(returned: frozenset[str]) -> None:
        assert sorted(returned) == enqueued
        enqueued.clear()

    check(own.set_expected_tgbs(["ns/a", "ns/b"]))
    check(own.publish("ns/a", {"sg-2": [tcp(30080)], "sg-1": [tcp(30080)]}))
    check(own.publish("ns/a", {"sg-1": [tcp(30080)], "sg-2": [tcp(30080)]}))  # nothing changed
    check(own.recheck(["sg-3", "sg-1"]))  # tracked or not, every id is enqueued
    check(own.publish("ns/b", {}))  # revoking becomes allowed: every tracked SG
    check(own.withdraw("ns/a"))
    check(own.set_expected_tgbs([]))


def test_publish_returns_only_sgs_whose_contributions_changed() -> None:
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=8)
    assert own.publish("ns/a", {"sg-1": [tcp(30080)], "sg-2": [tcp(30080)]}) == {"sg-1", "sg-2"}
    assert own.publish("ns/a", {"sg-1": [tcp(30080)], "sg-2": [tcp(30080)]}) == frozenset()
    assert own.publish("ns/a", {"sg-1": [tcp(30081)]}) == {"sg-1", "sg-2"}
    assert own.desired_rules("sg-2") == frozenset()


def test_desired_is_the_packed_union_and_owners_are_counted() -> None:
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=1)
    own.publish("ns/a", {"sg-n": [tcp(30080)]})
    own.publish("ns/b", {"sg-n": [tcp(31443)]})
    wide = EndpointRule("tcp", PortRange(30080, 31443), BACKEND)
    assert own.desired_rules("sg-n") == {wide}
    assert own.owners("sg-n", wide) == {"ns/a", "ns/b"}
    own.withdraw("ns/b")
    assert own.desired_rules("sg-n") == {tcp(30080)}
    assert own.owners("sg-n", wide) == {"ns/a"}


def test_revoke_is_allowed_only_after_every_expected_tgb_published() -> None:
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=8)
    assert not own.revoke_allowed  # nothing known about the cluster yet
    own.track(["sg-gc"])
    assert own.set_expected_tgbs(["ns/a", "ns/b"]) == frozenset()
    assert own.publish("ns/a", {"sg-n": [tcp(30080)]}) == {"sg-n"}
    assert not own.revoke_allowed
    assert own.unpublished_tgbs == {"ns/b"}
    # The last publish flips the switch: every tracked SG must be re-checked for revokes.
    assert own.publish("ns/b", {}) == {"sg-n", "sg-gc"}
    assert own.revoke_allowed


def test_a_new_tgb_suspends_revoking_until_it_publishes() -> None:
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=8)
    own.set_expected_tgbs(["ns/a"])
    own.publish("ns/a", {"sg-n": [tcp(1)]})
    assert own.revoke_allowed
    own.set_expected_tgbs(["ns/a", "ns/new"])
    assert not own.revoke_allowed


def test_tgbs_gone_from_the_cache_lose_their_contributions() -> None:
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=8)
    own.publish("ns/a", {"sg-n": [tcp(30080)]})
    own.publish("ns/b", {"sg-n": [tcp(30081)], "sg-m": [tcp(1)]})
    assert own.set_expected_tgbs(["ns/a"]) == {"sg-n", "sg-m"}
    assert own.desired_rules("sg-n") == {tcp(30080)}
    assert own.desired_rules("sg-m") == frozenset()
    assert own.revoke_allowed


def test_withdrawn_tgb_counts_as_published() -> None:
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=8)
    own.set_expected_tgbs(["ns/a", "ns/deleting"])
    own.publish("ns/a", {})
    own.withdraw("ns/deleting")
    assert own.revoke_allowed


def test_untrack_forgets_the_sg_and_its_contributions() -> None:
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=8)
    own.publish("ns/a", {"sg-gone": [tcp(1)], "sg-n": [tcp(2)]})
    own.untrack("sg-gone")
    assert own.tracked_sgs == {"sg-n"}
    assert own.desired_rules("sg-gone") == frozenset()
    # Republishing the same needs for the live SG changes nothing; the gone SG comes back if named.
    assert own.publish("ns/a", {"sg-n": [tcp(2)]}) == frozenset()


def test_without_merging_every_distinct_contribution_is_one_rule_as_upstream_unrestricted() -> None:
    """``--disable-restricted-sg-rules``: upstream keeps each distinct permission of every binding
    (its computeUnrestrictedIngressPermissionsPerSG); overlapping or adjacent ranges are not merged
    and no range budget applies."""
    own = RuleOwnership(_not_queued, max_port_ranges_per_source=1, merge_port_ranges=False)
    all_tcp = EndpointRule("tcp", PortRange(0, 65535), BACKEND)
    cidr = EndpointRule("tcp", PortRange(80, 8080), Source(SourceKind.IPV4_CIDR, "192.168.0.0/16"))
    own.publish("ns/lbc", {"sg-n": [all_tcp]})
    own.publish("ns/user", {"sg-n": [tcp(80), tcp(81), tcp(30080), cidr]})
    own.publish("ns/other", {"sg-n": [tcp(80)], "sg-m": [cidr]})
    assert own.desired_rules("sg-n") == {all_tcp, tcp(80), tcp(81), tcp(30080), cidr}
    assert own.desired_rules("sg-m") == {cidr}
    assert own.owners("sg-n", tcp(80)) == {"ns/user", "ns/other"}
    own.withdraw("ns/lbc")
    assert own.desired_rules("sg-n") == {tcp(80), tcp(81), tcp(30080), cidr}
