"""Converging LB and target-group attributes with as few calls as the facts allow.

Only the keys the spec names are compared, as upstream (a key removed from the annotation keeps
its value in AWS). What it costs:

* nothing is desired: no call at all;
* a resource this deploy just created: one Modify with every desired key (a new resource has
  AWS's defaults; a desired value equal to the default is sent anyway, which AWS accepts);
* an existing resource whose desired keys the index already knows (read or written by us since
  the last scan): no call unless a value differs, then one Modify;
* otherwise one Describe, then one Modify only if a value differs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from controller.deploy.elbv2_index import Elbv2Index

_log = logging.getLogger(__name__)

Describe = Callable[[str], Awaitable[dict[str, str]]]
Modify = Callable[[str, Mapping[str, str]], Awaitable[None]]


async def reconcile_attributes(
    arn: str,
    desired: Mapping[str, str],
    *,
    created: bool,
    index: Elbv2Index,
    describe: Describe,
    modify: Modify,
) -> dict[str, str]:
    """Make ``desired`` true of ``arn``; returns the attributes sent (empty: nothing changed)."""
    if not desired:
        return {}
    if created:
        changes = dict(desired)
    else:
        current = index.known_attributes(arn)
        if not all(key in current for key in desired):
            current = await describe(arn)
            index.attributes_read(arn, current)
        changes = {key: value for key, value in desired.items() if current.get(key) != value}
    if changes:
        await modify(arn, changes)
        index.attributes_changed(arn, changes)
        _log.info("modified attributes of %s: %s", arn, changes)
    return changes
