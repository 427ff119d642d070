"""Tag composition (the first writer of a key wins) and the tags annotations' validation.

Order: stack tracking tags, the resource-id tag, then the "spec" tags, which are user tags merged
with ``--default-tags`` (defaults win unless feature gate ``EnableDefaultTagsLowPriority``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from controller.annotations import InvalidAnnotationError, ObjectRef, parse_string_map
from controller.aws.tag_rules import tag_problem
from controller.naming import StackTags

_SHOWN_VALUE_LIMIT: Final = 200
"""A Warning shows at most this much of a bad tags annotation (events are cut at 1 kB)."""


def parse_tag_annotation(ref: ObjectRef, key: str, raw: str) -> dict[str, str]:
    """A ``k1=v1,k2=v2`` tags annotation whose every tag EC2 and ELBv2 accept.

    Checked here, before any AWS call: AWS would refuse the tag only once the deployment is under
    way (possibly after the SG exists), and the sandbox's moto would store anything.
    """
    tags = parse_string_map(ref, key, raw)
    for name, value in tags.items():
        problem = tag_problem(name, value)
        if problem is not None:
            shown = raw if len(raw) <= _SHOWN_VALUE_LIMIT else raw[:_SHOWN_VALUE_LIMIT] + "..."
            raise InvalidAnnotationError(ref, key, shown, problem)
    return tags


def merge_spec_tags(
    user_tags: Mapping[str, str], default_tags: Mapping[str, str], default_tags_low_priority: bool
) -> dict[str, str]:
    if default_tags_low_priority:
        return {**default_tags, **user_tags}
    return {**user_tags, **default_tags}


def compose_resource_tags(
    stack_tags: StackTags, resource_id: str | None, spec_tags: Mapping[str, str]
) -> dict[str, str]:
    """Tracking tags, then ``<prefix>/resource`` (if given), then spec tags for keys not yet set."""
    tags = stack_tags.resource_tags(resource_id) if resource_id else stack_tags.tracking_tags()
    for key, value in spec_tags.items():
        tags.setdefault(key, value)
    return tags
