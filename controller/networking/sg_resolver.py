"""Resolve the ``security-groups`` annotation (ids and Name-tag names) to SG ids.

No caching: a user may retag or recreate a custom SG at any time, and resolution happens once per
model build. Ambiguity is not an error: every SG in the VPC whose ``Name`` tag matches is returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.naming import TAG_NAME
from controller.networking.errors import SecurityGroupLookupError


class SecurityGroupResolver:
    def __init__(self, api: AwsApi, vpc_id: str) -> None:
        self._api = api
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
        groups = await self._api.paginate("ec2", "DescribeSecurityGroups", "SecurityGroups", GroupIds=ids)
        found = [str(g["GroupId"]) for g in groups]
        if len(found) != len(ids):
            raise _NotAllFound(f"requested ids [{', '.join(ids)}] but found [{', '.join(found)}]")
        return found

    async def _resolve_names(self, names: list[str]) -> list[str]:
        groups = await self._api.paginate(
            "ec2",
            "DescribeSecurityGroups",
            "SecurityGroups",
            Filters=[
                {"Name": f"tag:{TAG_NAME}", "Values": names},
                {"Name": "vpc-id", "Values": [self._vpc_id]},
            ],
        )
        # Distinct Name values in AWS's answer order, as upstream reports them.
        found_names = list(
            dict.fromkeys(
                str(tag["Value"]) for g in groups for tag in g.get("Tags") or () if tag["Key"] == TAG_NAME
            )
        )
        if len(found_names) != len(names):
            raise _NotAllFound(f"requested names [{', '.join(names)}] but found [{', '.join(found_names)}]")
        return [str(g["GroupId"]) for g in groups]


class _NotAllFound(Exception):
    pass
