"""``StackTargetGroupDeletions``: a target group is marked exactly while a stack deletion runs."""

from __future__ import annotations

import pytest

from controller.targetgroupbinding import StackTargetGroupDeletions


def test_a_target_group_is_marked_only_while_its_stack_is_being_deleted() -> None:
    deletions = StackTargetGroupDeletions()
    assert not deletions.is_being_deleted("arn:tg/a")
    with deletions.deleting(["arn:tg/a", "", "arn:tg/a"]):  # blanks and repeats are harmless
        assert deletions.is_being_deleted("arn:tg/a")
        assert not deletions.is_being_deleted("arn:tg/b")
        assert not deletions.is_being_deleted("")
    assert not deletions.is_being_deleted("arn:tg/a")


def test_overlapping_deletions_keep_the_mark_until_the_last_ends_even_when_one_fails() -> None:
    deletions = StackTargetGroupDeletions()
    with deletions.deleting(["arn:tg/a"]):
        with pytest.raises(RuntimeError), deletions.deleting(["arn:tg/a", "arn:tg/b"]):
            raise RuntimeError("DeleteLoadBalancer failed")
        assert deletions.is_being_deleted("arn:tg/a")
        assert not deletions.is_being_deleted("arn:tg/b")
    assert not deletions.is_being_deleted("arn:tg/a")
