"""Resolve the ``security-groups`` annotation (ids and Name-tag names) to SG ids.

No caching: a user may retag or recreate a custom SG at any time, and resolution happens once per
model build. Ambiguity is not an error: every SG in the VPC whose ``Name`` tag matches is returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.errors import AwsApiError
from controller.naming import TAG_NAME
from controller.networking.errors import SecurityGroupLookupError


class SecurityGroupResolver:
    def __init__(self, api: AwsApi, vpc_id: str) -> None:
        self._ec2 = Ec2(api)
        self._vpc_id = vpc_id

    async def resolve(self, names_or_ids: Sequence[str]) -> list[str]:
        """Ids resolved by id (AWS answer order), then ids resolved by ``Name`` tag.

        Raises ``SecurityGroupLookupError`` ("couldn't find all security groups: ...") if any entry
        did not resolve, joining the id and name failures with ", " as upstream does.
        """
        ids = [entry for entry in names_or_ids if entry.startswith("sg-")]
        names = list(dict.fromkeys(entry for entry in names_or_ids if not entry.startswith("sg-")))
        failures: list[str] = []
        by_id: list[str] = []
        by_name: list[str] = []
        if ids:
            try:
                by_id = await self._resolve_ids(ids)
            except (AwsApiError, _NotAllFound) as error:
                failures.append(str(error))
        if names:
            try:
                by_name = await self._resolve_names(names)
            except (AwsApiError, _NotAllFound) as error:
                failures.append(str(error))
        if failures:
            raise SecurityGroupLookupError("couldn't find all security groups: " + ", ".join(failures))
        return [*by_id, *by_name]

    async def _resolve_ids(self, ids: list[str]) -> list[str]:
        # No VPC filter: an id is unambiguous, and upstream accepts SGs of any VPC here.
        # A fresh read by GroupIds, deliberately not through the cached SecurityGroupReader: AWS's
        # answer order is the order the LB gets its SGs in, and one missing id fails the call with
        # AWS's own InvalidGroup.NotFound message, which is what the user sees (as upstream shows it).
        groups = await self._ec2.describe_security_groups(group_ids=ids)
        found = [g.group_id for g in groups]
        if len(found) != len(ids):
            raise _NotAllFound(f"requested ids [{', '.join(ids)}] but found [{', '.join(found)}]")
        return found

    async def _resolve_names(self, names: list[str]) -> list[str]:
        groups = await self._ec2.describe_security_groups(
            filters={f"tag:{TAG_NAME}": names, "vpc-id": [self._vpc_id]}
        )
        # Distinct Name values in AWS's answer order, as upstream reports them.
        found_names = list(dict.fromkeys(g.tags[TAG_NAME] for g in groups if TAG_NAME in g.tags))
        if len(found_names) != len(names):
            raise _NotAllFound(f"requested names [{', '.join(names)}] but found [{', '.join(found_names)}]")
        return [g.group_id for g in groups]


class _NotAllFound(Exception):
    pass
