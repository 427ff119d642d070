"""EC2's and ELBv2's documented tag limits, as the controller checks them before calling AWS."""

from __future__ import annotations

import pytest

from controller.aws.tag_rules import EC2_TAG_RULES, ELBV2_TAG_RULES, elbv2_allows, shorten, tag_problem


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("team", "a"),
        ("team", ""),  # an empty value is allowed
        ("k" * 128, "v" * 256),  # both limits are inclusive
        ("kubernetes.io/cluster/x", "owned"),
        ("a_b.c:d/e=f+g-h@i", "x y"),  # every extra character ELBv2's pattern names, and a space
        ("équipe", "東京 ١٢٣"),  # Unicode letters and numbers
        ("awsome", "aws:ok"),  # only a key that starts with "aws:" is reserved
    ],
)
def test_tags_both_services_accept(key: str, value: str) -> None:
    assert tag_problem(key, value) is None


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("aws:team", "a", "tag key 'aws:team' starts with 'aws:', which AWS reserves"),
        ("AWS:Team", "a", "tag key 'AWS:Team' starts with 'aws:', which AWS reserves"),
        ("k" * 129, "v", "is 129 characters long; EC2 and ELBv2 allow at most 128"),
        (
            "k",
            "v" * 102400,
            "the value of tag key 'k' is 102400 characters long; EC2 and ELBv2 allow at most 256",
        ),
        ("k", 'say "hi"', "the value of tag key 'k' contains '\"', which ELBv2 does not allow in tags"),
        ("k", "two\nlines", "the value of tag key 'k' contains '\\n', which ELBv2 does not allow"),
        ("tab\tkey", "v", "tag key 'tab\\tkey' contains '\\t', which ELBv2 does not allow"),
        ("k", "bell\x07", "contains '\\x07', which ELBv2"),
        ("k", "it's; <b>", "contains \"'\", ';', '<', '>', which ELBv2"),
    ],
)
def test_tags_aws_refuses_are_explained(key: str, value: str, expected: str) -> None:
    problem = tag_problem(key, value)
    assert problem is not None and expected in problem, problem
    assert "\n" not in problem  # one line, fit for an event or a start-up error


def test_ec2_alone_accepts_any_character_but_not_the_length() -> None:
    assert tag_problem("k", 'quote " and\nnewline', rules=(EC2_TAG_RULES,)) is None
    assert tag_problem("k", "v" * 257, rules=(EC2_TAG_RULES,)) == (
        "the value of tag key 'k' is 257 characters long; EC2 allows at most 256"
    )
    assert tag_problem("k", 'a"b', rules=(ELBV2_TAG_RULES,)) is not None


def test_elbv2_character_classes() -> None:
    # \p{Z} holds the space separators (and U+2028/U+2029), not tabs or newlines (controls, Cc).
    assert elbv2_allows(" ") and elbv2_allows("\u00a0") and elbv2_allows("\u2028")
    assert not elbv2_allows("\t") and not elbv2_allows("\r") and not elbv2_allows("\x00")
    assert elbv2_allows("Ⅻ") and elbv2_allows("²")  # letter numbers and other numbers are \p{N}
    assert not elbv2_allows("*") and not elbv2_allows("#") and not elbv2_allows(",")


def test_long_keys_are_shortened_in_messages() -> None:
    problem = tag_problem("k" * 5000, "v")
    assert problem is not None and len(problem) < 200, problem
    assert shorten("x" * 100, 10) == "'xxxxxxxxxx'..."
