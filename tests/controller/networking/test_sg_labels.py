"""Description labels and the ownership selector (upstream-behaviour §4.6)."""

from __future__ import annotations

import pytest

from controller.networking.labels import (
    OWN_ALL_RULES,
    OWN_TGB_SHARED_RULES,
    OwnershipSelector,
    parse_description_labels,
    render_description_labels,
)
from controller.networking.rules import Ipv4CidrSource, Rule


@pytest.mark.parametrize(
    ("description", "labels"),
    [
        ("elbv2.k8s.aws/targetGroupBinding=shared", {"elbv2.k8s.aws/targetGroupBinding": "shared"}),
        ("a=1,b=2", {"a": "1", "b": "2"}),
        ("a=", {"a": ""}),
        ("", {}),
        ("ops", {}),
        ("a=1, b=2", {}),
        ("a = 1", {}),
        ("a=1,ops", {}),
        ("a=b=c", {}),
        (",a=1", {}),
    ],
)
def test_parse_description_labels(description: str, labels: dict[str, str]) -> None:
    assert parse_description_labels(description) == labels


def test_render_is_the_inverse_of_parse() -> None:
    labels = {"b": "2", "a": "1"}
    assert render_description_labels(labels) == "a=1,b=2"
    assert parse_description_labels(render_description_labels(labels)) == labels


def _rule(description: str) -> Rule:
    return Rule.of("tcp", 443, 443, Ipv4CidrSource("0.0.0.0/0"), description)


def test_own_all_rules_owns_everything() -> None:
    assert OWN_ALL_RULES.owns(_rule("ops"))
    assert OWN_ALL_RULES.owns(_rule(""))


def test_tgb_selector_owns_only_labelled_rules() -> None:
    assert OWN_TGB_SHARED_RULES.owns(_rule("elbv2.k8s.aws/targetGroupBinding=shared"))
    assert OWN_TGB_SHARED_RULES.owns(_rule("other=x,elbv2.k8s.aws/targetGroupBinding=shared"))
    assert not OWN_TGB_SHARED_RULES.owns(_rule("ops"))
    assert not OWN_TGB_SHARED_RULES.owns(_rule("elbv2.k8s.aws/targetGroupBinding=other"))
    assert not OWN_TGB_SHARED_RULES.owns(_rule("elbv2.k8s.aws/targetGroupBinding=shared ops"))


def test_selector_with_several_labels_needs_all() -> None:
    selector = OwnershipSelector.with_labels({"a": "1", "b": "2"})
    assert selector.owns(_rule("b=2,a=1"))
    assert not selector.owns(_rule("a=1"))
