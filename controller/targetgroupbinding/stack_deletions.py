"""Target groups a stack deletion is deleting right now, so their bindings' clean-up leaves them alone.

A stack deletion deletes the stack's TargetGroupBindings and then its target groups. DeleteTargetGroup
succeeds with targets still registered (it is refused only while a listener or rule forwards to the
group), so deregistering those targets first is a DescribeTargetHealth and a DeregisterTargets per
target group spent on a group that is about to disappear (design.md Difference 16).

The stack deletion marks the target groups of the bindings it deletes for as long as it runs; the TGB
clean-up skips deregistration for a marked group. Outside that window nothing is marked, so a binding
deleted any other way (a user's own, or one of ours deleted by hand while its stack lives on) still
deregisters its targets. A clean-up that runs after the window finds the group gone (nothing to
deregister) or, if AWS refused the deletion for now, deregisters as before.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator


class StackTargetGroupDeletions:
    """In-process record shared by the stack reconcilers (writers) and the TGB reconciler (reader)."""

    def __init__(self) -> None:
        # A count, not a set: two overlapping deletions naming one ARN must not unmark it early.
        self._in_progress: Counter[str] = Counter()

    @contextlib.contextmanager
    def deleting(self, target_group_arns: Iterable[str]) -> Iterator[None]:
        """Mark ``target_group_arns`` as being deleted with their stack while the body runs."""
        marked = [arn for arn in dict.fromkeys(target_group_arns) if arn]
        self._in_progress.update(marked)
        try:
            yield
        finally:
            self._in_progress.subtract(marked)
            for arn in marked:
                if self._in_progress[arn] <= 0:
                    del self._in_progress[arn]

    def is_being_deleted(self, target_group_arn: str) -> bool:
        return self._in_progress[target_group_arn] > 0
