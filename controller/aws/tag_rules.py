"""What EC2 and ELBv2 accept as a tag key or value, from their API references.

* ELBv2 (``Tag``, used by CreateLoadBalancer, CreateTargetGroup and AddTags): key 1-128 characters,
  value 0-256, both matching ``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`` (Unicode letters, separators and
  numbers, and ``_ . : / = + - @``); a key starting with ``aws:`` is refused.
* EC2 (``Tag`` and the "Tag restrictions" of the user guide): key at most 128 characters, value at
  most 256, any character; the ``aws:`` key prefix is reserved.

The controller checks tags from annotations and flags against both services before it calls AWS
(every tag it sets goes to an SG and to load balancer resources), so bad input is a clear Warning
instead of an AWS error halfway through a deployment. The sandbox's AWS proxy uses the same rules
to refuse what AWS refuses, since moto stores anything.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

RESERVED_KEY_PREFIX: Final = "aws:"
ELBV2_TAG_PATTERN: Final = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
"""ELBv2's pattern as its API reference (and its validation errors) spell it."""
_ELBV2_EXTRA_CHARACTERS: Final = frozenset("_.:/=+-@")


@dataclass(frozen=True)
class TagRules:
    """One service's limits. ``any_character``: False when only ``ELBV2_TAG_PATTERN`` is allowed."""

    service: str
    max_key_length: int
    max_value_length: int
    any_character: bool

    def disallowed_characters(self, text: str) -> list[str]:
        """The distinct characters of ``text`` this service refuses, in order of appearance."""
        if self.any_character:
            return []
        return list(dict.fromkeys(c for c in text if not elbv2_allows(c)))


EC2_TAG_RULES: Final = TagRules("EC2", max_key_length=128, max_value_length=256, any_character=True)
ELBV2_TAG_RULES: Final = TagRules("ELBv2", max_key_length=128, max_value_length=256, any_character=False)
TAG_RULES: Final = (EC2_TAG_RULES, ELBV2_TAG_RULES)


def elbv2_allows(char: str) -> bool:
    """``\\p{L}`` letters, ``\\p{Z}`` separators (spaces; not tabs or newlines, which are controls),
    ``\\p{N}`` numbers, or one of ``_ . : / = + - @``."""
    return unicodedata.category(char)[0] in "LZN" or char in _ELBV2_EXTRA_CHARACTERS


def has_reserved_prefix(key: str) -> bool:
    """AWS reserves ``aws:`` in any letter case."""
    return key[: len(RESERVED_KEY_PREFIX)].lower() == RESERVED_KEY_PREFIX


def tag_problem(key: str, value: str, rules: tuple[TagRules, ...] = TAG_RULES) -> str | None:
    """Why AWS would refuse the tag ``key=value`` on one of ``rules``' services, or None.

    Written for a Warning event or a start-up error: one line, the key shortened and quoted.
    """
    shown = shorten(key)
    if not key:
        return "tag key is empty"
    if has_reserved_prefix(key):
        return f"tag key {shown} starts with {RESERVED_KEY_PREFIX!r}, which AWS reserves"
    key_limits = [(r.service, r.max_key_length) for r in rules]
    value_limits = [(r.service, r.max_value_length) for r in rules]
    for what, text, limits in (
        (f"tag key {shown}", key, key_limits),
        (f"the value of tag key {shown}", value, value_limits),
    ):
        problem = _length_problem(what, len(text), limits)
        if problem is not None:
            return problem
    for rule in rules:
        for what, text in ((f"tag key {shown}", key), (f"the value of tag key {shown}", value)):
            refused = rule.disallowed_characters(text)
            if refused:
                return (
                    f"{what} contains {', '.join(repr(c) for c in refused[:5])}, which {rule.service} "
                    "does not allow in tags (only letters, numbers, spaces and _ . : / = + - @)"
                )
    return None


def _length_problem(what: str, length: int, limits: list[tuple[str, int]]) -> str | None:
    """ "<what> is N characters long; EC2 and ELBv2 allow at most M" for the strictest refusing limit."""
    refusing = [(service, limit) for service, limit in limits if length > limit]
    if not refusing:
        return None
    strictest = min(limit for _, limit in refusing)
    services = [service for service, limit in refusing if limit == strictest]
    verb = "allows" if len(services) == 1 else "allow"
    return f"{what} is {length} characters long; {' and '.join(services)} {verb} at most {strictest}"


def shorten(text: str, limit: int = 64) -> str:
    """``repr`` of ``text``, cut to about ``limit`` characters: a 100 KB value stays readable and a
    newline stays visible as ``\\n``."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + "..."
