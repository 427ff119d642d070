"""HTTPRoute and GRPCRoute matches as ALB listener-rule conditions, in Gateway API precedence order.

Every (match, hostname) pair of every rule of every route attached to one listener port becomes one
listener rule, as upstream builds them (route_rule_condition.go, route_rule_precedence.go):

* a route's hostnames each get their own rule (a ``host-header`` condition); a route without any
  matches every host;
* HTTP: ``PathPrefix`` ``/x`` → path patterns ``/x`` and ``/x/*`` (``/`` → ``/*``), ``Exact`` → the
  path as given, ``RegularExpression`` → a regex path pattern; headers (exact values split at
  unescaped commas, or a regex), query parameters and the method each add a condition;
* gRPC: the method match becomes the path ``/<service>/<method>`` (``*`` for the missing part), no
  method match ``/*``; headers as for HTTP.

Order (the rule priority): the more specific hostname first (exact before wildcard, more labels,
then longer); then the path kind (exact, prefix, regex, none) and length (for gRPC: service, then
method length); a method match; more header matches; more query matches; then the older route, its
``namespace/name``, the rule's and the match's index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from controller.annotations import InvalidObjectError, ObjectRef
from controller.gateway.routes import Route
from controller.model.load_balancer import QueryStringPair, RuleCondition

_PATH_KIND_RANK: Final = {"Exact": 3, "PathPrefix": 2, "RegularExpression": 1}
DEFAULT_PATH_MATCH: Final[Mapping[str, str]] = {"type": "PathPrefix", "value": "/"}


@dataclass(frozen=True)
class RoutedRule:
    """One listener rule to be: its conditions and the route rule whose backends it forwards to."""

    route: Route
    rule_index: int
    rule: Mapping[str, Any]
    conditions: tuple[RuleCondition, ...]
    sort_key: tuple[Any, ...]


def routed_rules(routes: Sequence[Route]) -> list[RoutedRule]:
    """All rules of ``routes`` (HTTPRoute / GRPCRoute) for one listener, in priority order."""
    rules: list[RoutedRule] = []
    for route in routes:
        ref = ObjectRef(route.kind, route.namespace, route.key.split("/", 1)[1])
        hostnames = [str(h) for h in route.spec.get("hostnames") or ()] or [""]
        created, namespace, name = route.sort_key()
        for rule_index, rule in enumerate(route.spec.get("rules") or ()):
            matches = list(rule.get("matches") or ())
            indexed: list[tuple[int, Mapping[str, Any] | None]] = list(enumerate(matches)) or [
                (1 << 30, None)
            ]
            for match_index, match in indexed:
                for hostname in hostnames:
                    if route.kind == "GRPCRoute":
                        conditions, factors = _grpc(match, ref, rule_index)
                    else:
                        conditions, factors = _http(match, ref, rule_index)
                    host = (RuleCondition("host-header", (hostname,)),) if hostname else ()
                    key = (
                        _hostname_rank(hostname),
                        *(-f for f in factors),
                        created,
                        f"{namespace}/{name}",
                        rule_index,
                        match_index,
                        hostname,
                    )
                    rules.append(RoutedRule(route, rule_index, rule, (*host, *conditions), key))
    rules.sort(key=lambda r: r.sort_key)
    return rules


def _hostname_rank(hostname: str) -> tuple[int, int, int]:
    """Smaller sorts first: concrete before catch-all, exact before wildcard, more dots, longer."""
    if not hostname:
        return (2, 0, 0)
    return (1 if hostname.startswith("*.") else 0, -hostname.count("."), -len(hostname))


def _http(
    match: Mapping[str, Any] | None, ref: ObjectRef, rule_index: int
) -> tuple[list[RuleCondition], tuple[int, ...]]:
    match = match or {}
    conditions: list[RuleCondition] = []
    # The CRD defaults a match's path (and a rule's matches) to PathPrefix "/"; applied here too, so
    # every rule has a condition (ALB refuses a rule without one) whoever wrote the object.
    path = match.get("path") or DEFAULT_PATH_MATCH
    path_kind = path_length = 0
    if path:
        kind = str(path.get("type") or "PathPrefix")
        value = str(path.get("value") or "/")
        path_kind, path_length = _PATH_KIND_RANK.get(kind, 0), len(value)
        if kind == "RegularExpression":
            conditions.append(RuleCondition("path-pattern", regex_values=(value,)))
        elif kind == "Exact":
            conditions.append(RuleCondition("path-pattern", (value,)))
        else:
            if "*" in value or "?" in value:
                raise InvalidObjectError(
                    ref,
                    f"spec.rules[{rule_index}].matches[].path.value",
                    value,
                    "prefix path shouldn't contain wildcards",
                )
            trimmed = value.rstrip("/")
            conditions.append(
                RuleCondition("path-pattern", ("/*",) if value == "/" else (trimmed, trimmed + "/*"))
            )
    headers = list(match.get("headers") or ())
    conditions.extend(_header(h) for h in headers)
    queries = list(match.get("queryParams") or ())
    for query in queries:
        conditions.append(
            RuleCondition(
                "query-string", query_strings=(QueryStringPair(str(query["name"]), str(query["value"])),)
            )
        )
    method = match.get("method")
    if method:
        conditions.append(RuleCondition("http-request-method", (str(method),)))
    return conditions, (path_kind, path_length, 0, 1 if method else 0, len(headers), len(queries))


def _grpc(
    match: Mapping[str, Any] | None, ref: ObjectRef, rule_index: int
) -> tuple[list[RuleCondition], tuple[int, ...]]:
    method = (match or {}).get("method")
    if not method:
        conditions = [RuleCondition("path-pattern", ("/*",))]
        factors: tuple[int, ...] = (0, 0, 0)
    else:
        service, name = method.get("service"), method.get("method")
        if service and name:
            value = f"/{service}/{name}"
        elif service:
            value = f"/{service}/*"
        elif name:
            value = f"/*/{name}"
        else:
            raise InvalidObjectError(
                ref, f"spec.rules[{rule_index}].matches[].method", str(method), "invalid grpc method match"
            )
        kind = 1 if method.get("type") == "RegularExpression" else 3
        conditions = [RuleCondition("path-pattern", (value,))]
        factors = (kind, len(str(service or "")), len(str(name or "")))
    headers = list((match or {}).get("headers") or ())
    conditions.extend(_header(h) for h in headers)
    return conditions, (*factors, 0, len(headers), 0)


def _header(header: Mapping[str, Any]) -> RuleCondition:
    name, value = str(header.get("name") or ""), str(header.get("value") or "")
    if header.get("type") == "RegularExpression":
        return RuleCondition("http-header", regex_values=(value,), http_header_name=name)
    return RuleCondition("http-header", tuple(_split_unescaped_commas(value)), http_header_name=name)


def _split_unescaped_commas(value: str) -> list[str]:
    """``a\\,b,c`` → ``["a,b", "c"]``: a backslash takes the next character literally."""
    values: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            current.append(value[index + 1])
            index += 2
            continue
        if char == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    values.append("".join(current))
    return values
