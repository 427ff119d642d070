"""The seam through which builders resolve custom SG names/ids (real one: ``SecurityGroupResolver``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from controller.annotations import ObjectRef, UnresolvedAnnotationError
from controller.networking.errors import SecurityGroupLookupError


class SecurityGroupIdResolver(Protocol):
    async def resolve(self, names_or_ids: Sequence[str]) -> list[str]:
        """SG ids for ``sg-...`` ids and ``Name`` tag values; raises ``SecurityGroupLookupError``."""
        ...


async def resolve_custom_sgs(
    resolver: SecurityGroupIdResolver, names_or_ids: Sequence[str], ref: ObjectRef, key: str
) -> list[str]:
    """Resolve, turning a lookup failure into an error naming the object, annotation and value.

    The error is retryable: the SG may simply not exist *yet*, or AWS failed the lookup.
    """
    try:
        return await resolver.resolve(names_or_ids)
    except SecurityGroupLookupError as error:
        raise UnresolvedAnnotationError(ref, key, ", ".join(names_or_ids), str(error)) from error
