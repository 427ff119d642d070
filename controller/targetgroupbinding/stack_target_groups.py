"""What the stack reconcilers are doing to their target groups, told to the TGB reconciler.

The stack reconcilers (Ingress, Service) create and delete target groups and then write or delete the
TargetGroupBindings that point at them; the TGB reconciler registers and deregisters targets. Two
facts known only to the first save the second an AWS call each (design.md Difference 16):

* **Being deleted with its stack.** A stack deletion deletes the stack's TargetGroupBindings and then
  its target groups. DeleteTargetGroup succeeds with targets still registered (it is refused only
  while a listener or rule forwards to the group), so deregistering those targets first is a
  DescribeTargetHealth and a DeregisterTargets spent on a group about to disappear. The stack
  deletion marks the groups for as long as it runs; the TGB clean-up skips deregistration for a
  marked group. Outside that window nothing is marked, so a binding deleted any other way (a user's
  own, or one of ours deleted by hand while its stack lives on) still deregisters its targets.
* **Created just now, still empty.** A deploy that creates a target group marks it before it writes
  the binding; the binding's first target sync takes the mark and skips DescribeTargetHealth (a new
  group has no targets). The mark is taken once, whatever the sync's outcome, so every later sync
  (and a retry after a failed one) reads the group's targets from AWS as before.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator


class StackTargetGroups:
    """In-process record shared by the stack reconcilers (writers) and the TGB reconciler (reader)."""

    def __init__(self) -> None:
        # A count, not a set: two overlapping deletions naming one ARN must not unmark it early.
        self._being_deleted: Counter[str] = Counter()
        self._created_empty: set[str] = set()

    @contextlib.contextmanager
    def deleting(self, target_group_arns: Iterable[str]) -> Iterator[None]:
        """Mark ``target_group_arns`` as being deleted with their stack while the body runs."""
        marked = [arn for arn in dict.fromkeys(target_group_arns) if arn]
        self._being_deleted.update(marked)
        self._created_empty.difference_update(marked)
        try:
            yield
        finally:
            self._being_deleted.subtract(marked)
            for arn in marked:
                if self._being_deleted[arn] <= 0:
                    del self._being_deleted[arn]

    def is_being_deleted(self, target_group_arn: str) -> bool:
        return self._being_deleted[target_group_arn] > 0

    def created(self, target_group_arns: Iterable[str]) -> None:
        """These target groups were created by a deploy that just finished: they have no targets."""
        self._created_empty.update(arn for arn in target_group_arns if arn)

    def take_created_empty(self, target_group_arn: str) -> bool:
        """True once for a group marked by ``created`` (the caller may skip reading its targets)."""
        if target_group_arn in self._created_empty:
            self._created_empty.discard(target_group_arn)
            return True
        return False
