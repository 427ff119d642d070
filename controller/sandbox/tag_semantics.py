"""Tags moto stores but AWS refuses, answered by the proxy with AWS's error instead.

moto accepts any tag key and value (quotes, newlines, control characters, 100 KB values, the
reserved ``aws:`` prefix). EC2 and ELBv2 refuse them as their API references say (the limits are in
``controller.aws.tag_rules``), each in its own way:

* ELBv2 validates its input model first: every key or value breaking a length or pattern constraint
  is one entry of a ``ValidationError`` ("1 validation error detected: Value 'x' at
  'tags.1.member.value' failed to satisfy constraint: Member must ..."; entries joined by ``; ``).
  Only then does it refuse a reserved key: ``ValidationError`` "Tag key 'aws:x' cannot start with
  'aws:'".
* EC2 checks tag by tag: a reserved key is ``InvalidTagKey.Malformed``; a key or value too long is
  ``InvalidParameterValue`` "Tag key exceeds the maximum length of 128 characters" (or "Tag value
  ... 256"). EC2 accepts any character.

Checked on the calls that set tags: ELBv2 ``Tags.member.N.Key|Value`` (AddTags and the Create
calls), EC2 ``Tag.N.Key|Value`` of CreateTags and ``TagSpecification.N.Tag.M.Key|Value``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from controller.aws.tag_rules import (
    EC2_TAG_RULES,
    ELBV2_TAG_PATTERN,
    ELBV2_TAG_RULES,
    RESERVED_KEY_PREFIX,
    has_reserved_prefix,
)
from controller.sandbox.ec2_semantics import RuleViolation

OUTCOME_INVALID_TAG: Final = "invalid-tag"
_ELBV2_TAG_PARAM: Final = re.compile(r"^Tags\.member\.(\d+)\.(Key|Value)$")
_EC2_CREATE_TAGS_PARAM: Final = re.compile(r"^Tag\.(\d+)\.(Key|Value)$")
_EC2_TAG_SPECIFICATION_PARAM: Final = re.compile(r"^TagSpecification\.(\d+)\.Tag\.(\d+)\.(Key|Value)$")
_ELBV2_UNTAGGING: Final = frozenset({"RemoveTags", "DescribeTags"})


@dataclass(frozen=True)
class RequestTag:
    """One tag of a request: where it sits (``member``, e.g. ``tags.1.member``) and what it says."""

    member: str
    key: str
    value: str


def check_request_tags(service: str, operation: str, params: Mapping[str, str]) -> RuleViolation | None:
    """The error AWS answers for the tags of this request, or None when it accepts them."""
    if service == "elbv2" and operation not in _ELBV2_UNTAGGING:
        return check_elbv2_tags(elbv2_request_tags(params))
    if service == "ec2" and operation != "DeleteTags":
        return check_ec2_tags(ec2_request_tags(operation, params))
    return None


def elbv2_request_tags(params: Mapping[str, str]) -> list[RequestTag]:
    fields: dict[int, dict[str, str]] = {}
    for name, text in params.items():
        match = _ELBV2_TAG_PARAM.match(name)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = text
    return [
        RequestTag(f"tags.{index}.member", found.get("Key", ""), found.get("Value", ""))
        for index, found in sorted(fields.items())
    ]


def ec2_request_tags(operation: str, params: Mapping[str, str]) -> list[RequestTag]:
    fields: dict[tuple[int, ...], dict[str, str]] = {}
    for name, text in params.items():
        if operation == "CreateTags":
            match = _EC2_CREATE_TAGS_PARAM.match(name)
        else:
            match = _EC2_TAG_SPECIFICATION_PARAM.match(name)
        if match:
            *position, field = match.groups()
            fields.setdefault(tuple(int(p) for p in position), {})[field] = text
    return [
        RequestTag(".".join(map(str, position)), found.get("Key", ""), found.get("Value", ""))
        for position, found in sorted(fields.items())
    ]


def check_elbv2_tags(tags: list[RequestTag]) -> RuleViolation | None:
    errors: list[str] = []
    for tag in tags:
        for field, text, minimum, maximum in (
            ("key", tag.key, 1, ELBV2_TAG_RULES.max_key_length),
            ("value", tag.value, 0, ELBV2_TAG_RULES.max_value_length),
        ):
            errors += [
                f"Value '{text}' at '{tag.member}.{field}' failed to satisfy constraint: {constraint}"
                for constraint in _elbv2_constraints_broken(text, minimum, maximum)
            ]
    if errors:
        plural = "error" if len(errors) == 1 else "errors"
        return RuleViolation(
            "ValidationError",
            f"{len(errors)} validation {plural} detected: {'; '.join(errors)}",
            outcome=OUTCOME_INVALID_TAG,
        )
    for tag in tags:
        if has_reserved_prefix(tag.key):
            return RuleViolation(
                "ValidationError",
                f"Tag key '{tag.key}' cannot start with '{RESERVED_KEY_PREFIX}'",
                outcome=OUTCOME_INVALID_TAG,
            )
    return None


def _elbv2_constraints_broken(text: str, minimum: int, maximum: int) -> list[str]:
    broken: list[str] = []
    if len(text) < minimum:
        broken.append(f"Member must have length greater than or equal to {minimum}")
    if len(text) > maximum:
        broken.append(f"Member must have length less than or equal to {maximum}")
    if ELBV2_TAG_RULES.disallowed_characters(text):
        broken.append(f"Member must satisfy regular expression pattern: {ELBV2_TAG_PATTERN}")
    return broken


def check_ec2_tags(tags: list[RequestTag]) -> RuleViolation | None:
    for tag in tags:
        if has_reserved_prefix(tag.key):
            return RuleViolation(
                "InvalidTagKey.Malformed",
                f"Tag keys starting with '{RESERVED_KEY_PREFIX}' are reserved for internal use",
                outcome=OUTCOME_INVALID_TAG,
            )
        if len(tag.key) > EC2_TAG_RULES.max_key_length:
            return RuleViolation(
                "InvalidParameterValue",
                f"Tag key exceeds the maximum length of {EC2_TAG_RULES.max_key_length} characters",
                outcome=OUTCOME_INVALID_TAG,
            )
        if len(tag.value) > EC2_TAG_RULES.max_value_length:
            return RuleViolation(
                "InvalidParameterValue",
                f"Tag value exceeds the maximum length of {EC2_TAG_RULES.max_value_length} characters",
                outcome=OUTCOME_INVALID_TAG,
            )
    return None
