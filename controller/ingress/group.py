"""Ingress groups: implicit (one Ingress, id ``namespace/name``) and explicit (``group.name``).

Members are the active Ingresses of the group sorted by ``group.order`` (-1000..1000, default 0)
then ``namespace/name``. Inactive members are Ingresses that still carry the group's finalizer but
are being deleted or no longer belong to the group; the controller removes their finalizer after
a successful deploy and releases their backend SG usage (upstream-behaviour §3.4, §7).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.annotations import (
    ING_GROUP_NAME,
    ING_GROUP_ORDER,
    InvalidAnnotationError,
    ModelBuildError,
    ObjectRef,
    parse_int,
)
from controller.finalizers import EXPLICIT_GROUP_FINALIZER_PREFIX, IMPLICIT_GROUP_FINALIZER
from controller.ingress.class_matcher import ClassifiedIngress, IngressClassMatcher, InvalidIngressClassError
from framework.objects import finalizers_of, is_deleting, name_of, namespace_of

GROUP_ORDER_MIN: Final = -1000
GROUP_ORDER_MAX: Final = 1000
# Upstream's pattern: lower-case alphanumerics, '-' and '.', starting and ending alphanumeric (so
# "a-.b" is fine: it is not a DNS subdomain check). Used with fullmatch, since Python's "$" would
# also accept a trailing newline that Go's does not.
_GROUP_NAME_PATTERN: Final = re.compile(r"([a-z0-9][-a-z0-9.]*)?[a-z0-9]")
_GROUP_NAME_MAX_LENGTH: Final = 63


@dataclass(frozen=True, order=True)
class IngressGroupId:
    namespace: str
    """Empty for explicit groups."""
    name: str

    @classmethod
    def implicit(cls, namespace: str, name: str) -> IngressGroupId:
        return cls(namespace, name)

    @classmethod
    def explicit(cls, group_name: str) -> IngressGroupId:
        return cls("", group_name)

    @property
    def is_explicit(self) -> bool:
        return not self.namespace

    @property
    def finalizer(self) -> str:
        return EXPLICIT_GROUP_FINALIZER_PREFIX + self.name if self.is_explicit else IMPLICIT_GROUP_FINALIZER

    def __str__(self) -> str:
        """The stack id: upstream's ``GroupID.String()``."""
        return self.name if self.is_explicit else f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class IngressGroup:
    id: IngressGroupId
    members: tuple[ClassifiedIngress, ...]
    inactive_members: tuple[Mapping[str, Any], ...] = ()

    @property
    def member_refs(self) -> tuple[ObjectRef, ...]:
        return tuple(member.ref for member in self.members)


def group_id_of(member: ClassifiedIngress) -> IngressGroupId:
    """The group an owned Ingress declares (IngressClassParams ``spec.group.name`` wins over the annotation)."""
    params_group = ((member.params_spec.get("group") or {}).get("name")) if member.class_params else None
    if params_group:
        return _validated_group(member.params_ref, "spec.group.name", str(params_group))
    raw = member.annotations.get(ING_GROUP_NAME)
    if raw is None:
        return IngressGroupId.implicit(namespace_of(member.ingress), name_of(member.ingress))
    return _validated_group(member.ref, ING_GROUP_NAME, raw)


def validate_group_name(name: str) -> str | None:
    """Why ``name`` is not a valid group name (upstream's checks, in its order), or None."""
    if not _GROUP_NAME_PATTERN.fullmatch(name):
        return (
            "groupName must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
    if len(name) > _GROUP_NAME_MAX_LENGTH:
        return f"groupName must be no more than {_GROUP_NAME_MAX_LENGTH} characters"
    return None


def _validated_group(ref: ObjectRef, key: str, name: str) -> IngressGroupId:
    problem = validate_group_name(name)
    if problem is not None:
        raise InvalidAnnotationError(ref, key, name, problem)
    return IngressGroupId.explicit(name)


def group_order_of(member: ClassifiedIngress) -> int:
    raw = member.annotations.get(ING_GROUP_ORDER)
    if raw is None:
        return 0
    return parse_int(member.ref, ING_GROUP_ORDER, raw, GROUP_ORDER_MIN, GROUP_ORDER_MAX)


def group_ids_for_ingress(ingress: Mapping[str, Any], matcher: IngressClassMatcher) -> set[IngressGroupId]:
    """Every group an Ingress event must re-queue: its current group and groups named by its finalizers."""
    namespace, name = namespace_of(ingress), name_of(ingress)
    ids: set[IngressGroupId] = set()
    for finalizer in finalizers_of(ingress):
        if finalizer == IMPLICIT_GROUP_FINALIZER:
            ids.add(IngressGroupId.implicit(namespace, name))
        elif finalizer.startswith(EXPLICIT_GROUP_FINALIZER_PREFIX):
            ids.add(IngressGroupId.explicit(finalizer.removeprefix(EXPLICIT_GROUP_FINALIZER_PREFIX)))
    try:
        member = matcher.classify(ingress)
        if member is not None:
            ids.add(group_id_of(member))
    except ModelBuildError:
        # Its own implicit group reports the error when built.
        ids.add(IngressGroupId.implicit(namespace, name))
    return ids


def build_group(
    group_id: IngressGroupId, ingresses: Iterable[Mapping[str, Any]], matcher: IngressClassMatcher
) -> IngressGroup:
    """Collect the active and inactive members of ``group_id`` from all known Ingresses.

    Raises ``ModelBuildError`` only for problems of Ingresses that belong to this group (or whose
    group cannot be determined and whose implicit group is this one). An Ingress whose class
    configuration cannot be loaded (``InvalidIngressClassError``) but that carries this group's
    finalizer fails the whole group instead of leaving it: the class may have been broken by
    accident, and leaving would delete its part of the load balancer (upstream issue 2731).
    """
    members: list[tuple[int, str, str, ClassifiedIngress]] = []
    inactive: list[Mapping[str, Any]] = []
    for ingress in ingresses:
        namespace, name = namespace_of(ingress), name_of(ingress)
        has_finalizer = group_id.finalizer in finalizers_of(ingress) and (
            group_id.is_explicit or (namespace, name) == (group_id.namespace, group_id.name)
        )
        own_implicit = not group_id.is_explicit and (namespace, name) == (group_id.namespace, group_id.name)
        try:
            member = matcher.classify(ingress)
            member_group = group_id_of(member) if member is not None else None
        except InvalidIngressClassError:
            if own_implicit or has_finalizer:
                raise
            continue
        except ModelBuildError:
            if own_implicit:
                raise
            if has_finalizer:
                inactive.append(ingress)
            continue
        if member is None or member_group != group_id or is_deleting(ingress):
            if has_finalizer or (member_group == group_id and is_deleting(ingress)):
                inactive.append(ingress)
            continue
        members.append((group_order_of(member), namespace, name, member))
    members.sort(key=lambda item: item[:3])
    return IngressGroup(group_id, tuple(m for *_, m in members), tuple(inactive))
