"""Ingress host/path rules → ALB listener rule conditions (upstream ``model_build_listener_rules.go``).

Paths of one host rule are ordered Exact first, then Prefix by length (longest first, stable),
then ImplementationSpecific (or no pathType) in their original order. Path patterns:
Exact → the path (no wildcards allowed); Prefix ``/`` → ``/*``, other prefixes → ``/p`` and ``/p/*``
(no wildcards allowed); ImplementationSpecific → the path as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from controller.annotations import InvalidAnnotationError, InvalidObjectError, ObjectRef
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


def rule_conditions(
    host: str,
    path: Mapping[str, Any],
    ref: ObjectRef,
    extra: Sequence[RuleCondition] = (),
    extra_source: tuple[str, str] = ("", ""),
) -> tuple[RuleCondition, ...]:
    """Upstream's order: the ``conditions.<name>`` conditions other than host and path (as given),
    then one host-header (the rule's host plus the annotation's host values), then one path-pattern
    (the path's patterns plus the annotation's path values); nothing at all → path ``/*``.

    ``extra_source``: the annotation key and value ``extra`` came from, for the error when host or
    path values end up mixed with regex values (upstream checks that before AWS would reject it).
    """
    conditions: list[RuleCondition] = []
    hosts: list[str] = [host] if host else []
    host_regex: list[str] = []
    paths: list[str] = []
    path_regex: list[str] = []
    raw_path = str(path.get("path") or "")
    if raw_path:
        paths.extend(path_patterns(raw_path, path.get("pathType"), ref))
    for condition in extra:
        if condition.field == HOST_HEADER:
            hosts.extend(condition.values)
            host_regex.extend(condition.regex_values)
        elif condition.field == PATH_PATTERN:
            paths.extend(condition.values)
            path_regex.extend(condition.regex_values)
        else:
            conditions.append(condition)
    for what, values, regex in (("host", hosts, host_regex), ("path", paths, path_regex)):
        if values and regex:
            key, raw = extra_source
            raise InvalidAnnotationError(
                ref,
                key,
                raw,
                f"{what} condition must specify exactly one of Values and RegexValues, "
                f"got both Values {_go_list(values)} and RegexValues {_go_list(regex)}",
            )
    if hosts or host_regex:
        conditions.append(RuleCondition(HOST_HEADER, tuple(hosts), tuple(host_regex)))
    if paths or path_regex:
        conditions.append(RuleCondition(PATH_PATTERN, tuple(paths), tuple(path_regex)))
    if not conditions:
        conditions.append(RuleCondition(PATH_PATTERN, ("/*",)))
    return tuple(conditions)


def _go_list(values: Sequence[str]) -> str:
    """How Go's ``%s`` prints a ``[]string``."""
    return "[" + " ".join(values) + "]"
