"""Ingress host/path rules → ALB listener rule conditions (upstream ``model_build_listener_rules.go``).

Paths of one host rule are ordered Exact first, then Prefix by length (longest first, stable),
then ImplementationSpecific (or no pathType) in their original order. Path patterns:
Exact → the path (no wildcards allowed); Prefix ``/`` → ``/*``, other prefixes → ``/p`` and ``/p/*``
(no wildcards allowed); ImplementationSpecific → the path as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from controller.annotations import InvalidObjectError, ObjectRef
from controller.model.load_balancer import RuleCondition

EXACT: Final = "Exact"
PREFIX: Final = "Prefix"
IMPLEMENTATION_SPECIFIC: Final = "ImplementationSpecific"
HOST_HEADER: Final = "host-header"
PATH_PATTERN: Final = "path-pattern"


def sort_paths(paths: Sequence[Mapping[str, Any]], ref: ObjectRef) -> list[Mapping[str, Any]]:
    exact: list[Mapping[str, Any]] = []
    prefix: list[Mapping[str, Any]] = []
    other: list[Mapping[str, Any]] = []
    for path in paths:
        path_type = path.get("pathType")
        if path_type is None or path_type == IMPLEMENTATION_SPECIFIC:
            other.append(path)
        elif path_type == EXACT:
            exact.append(path)
        elif path_type == PREFIX:
            prefix.append(path)
        else:
            raise InvalidObjectError(
                ref,
                "spec.rules[].http.paths[].pathType",
                str(path_type),
                f"unknown pathType for path {path.get('path')}",
            )
    prefix.sort(key=lambda p: -len(str(p.get("path") or "")))
    return [*exact, *prefix, *other]


def path_patterns(path: str, path_type: str | None, ref: ObjectRef) -> list[str]:
    if path_type == EXACT:
        if "*" in path or "?" in path:
            raise InvalidObjectError(
                ref, "spec.rules[].http.paths[].path", path, "exact path shouldn't contain wildcards"
            )
        return [path]
    if path_type == PREFIX:
        if path == "/":
            return ["/*"]
        if "*" in path or "?" in path:
            raise InvalidObjectError(
                ref, "spec.rules[].http.paths[].path", path, "prefix path shouldn't contain wildcards"
            )
        normalized = path.removesuffix("/")
        return [normalized, normalized + "/*"]
    return [path]


def rule_conditions(host: str, path: Mapping[str, Any], ref: ObjectRef) -> tuple[RuleCondition, ...]:
    """host-header (if a host is set) then path-pattern (if a path is set); neither → path ``/*``."""
    conditions: list[RuleCondition] = []
    if host:
        conditions.append(RuleCondition(HOST_HEADER, (host,)))
    raw_path = str(path.get("path") or "")
    if raw_path:
        patterns = path_patterns(raw_path, path.get("pathType"), ref)
        conditions.append(RuleCondition(PATH_PATTERN, tuple(patterns)))
    if not conditions:
        conditions.append(RuleCondition(PATH_PATTERN, ("/*",)))
    return tuple(conditions)
