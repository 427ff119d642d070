"""``StackTargetGroups``: a target group is marked as being deleted exactly while a stack deletion
runs, and as created-empty until its first target sync takes the mark."""

from __future__ import annotations

import pytest

from controller.targetgroupbinding import StackTargetGroups


def test_a_target_group_is_marked_only_while_its_stack_is_being_deleted() -> None:
    deletions = StackTargetGroups()
    assert not deletions.is_being_deleted("arn:tg/a")
    with deletions.deleting(["arn:tg/a", "", "arn:tg/a"]):  # blanks and repeats are harmless
        assert deletions.is_being_deleted("arn:tg/a")
        assert not deletions.is_being_deleted("arn:tg/b")
        assert not deletions.is_being_deleted("")
    assert not deletions.is_being_deleted("arn:tg/a")


def test_overlapping_deletions_keep_the_mark_until_the_last_ends_even_when_one_fails() -> None:
    deletions = StackTargetGroups()
    with deletions.deleting(["arn:tg/a"]):
        with pytest.raises(RuntimeError), deletions.deleting(["arn:tg/a", "arn:tg/b"]):
            raise RuntimeError("DeleteLoadBalancer failed")
        assert deletions.is_being_deleted("arn:tg/a")
        assert not deletions.is_being_deleted("arn:tg/b")
    assert not deletions.is_being_deleted("arn:tg/a")


def test_a_created_target_group_is_known_empty_exactly_once() -> None:
    groups = StackTargetGroups()
    groups.created(["arn:tg/new", ""])
    assert not groups.take_created_empty("arn:tg/other")
    assert groups.take_created_empty("arn:tg/new")
    assert not groups.take_created_empty("arn:tg/new")  # later syncs read the targets
    assert not groups.take_created_empty("")


def test_a_deletion_drops_the_created_mark() -> None:
    groups = StackTargetGroups()
    groups.created(["arn:tg/new"])
    with groups.deleting(["arn:tg/new"]):
        pass
    assert not groups.take_created_empty("arn:tg/new")
