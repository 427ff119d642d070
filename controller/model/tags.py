"""Tag composition of reference §1.4: the first writer of a key wins.

Order: stack tracking tags, the resource-id tag, then the "spec" tags, which are user tags merged
with ``--default-tags`` (defaults win unless feature gate ``EnableDefaultTagsLowPriority``).
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.naming import StackTags


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
