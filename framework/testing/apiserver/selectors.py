"""Label and field selectors with the grammar and error behaviour of k8s.io/apimachinery."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request

_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def qualified_name_errors(key: str) -> list[str]:
    """Why `key` is not a valid qualified name (label/annotation key); empty when it is."""
    errors: list[str] = []
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        errors.append("prefix part must be non-empty")
    elif prefix:
        # Go prefixes each of IsDNS1123Subdomain's messages with "prefix part ".
        if len(prefix) > 253:
            errors.append("prefix part must be no more than 253 characters")
        if not _DNS_SUBDOMAIN.match(prefix):
            errors.append(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            )
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    elif not _NAME_PART.match(name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
            "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    errors: list[str] = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE.match(value):
        errors.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            "'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
    return errors


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str  # exists, !, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op == "exists":
            return present
        if op == "!":
            return not present
        if op in ("=", "in"):
            return present and value in self.values
        if op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            number = int(str(value))
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if op == "gt" else number < bound


_TOKEN = re.compile(r"\s*(==|!=|=|\(|\)|,|!|<|>|[^\s=!(),<>]+)")


class LabelSelector:
    """A parsed `labelSelector` query value; all requirements must match."""

    def __init__(self, requirements: tuple[LabelRequirement, ...]) -> None:
        self.requirements = requirements

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        tokens = _tokenize(text)
        requirements: list[LabelRequirement] = []
        pos = 0
        while pos < len(tokens):
            requirement, pos = _parse_requirement(tokens, pos)
            requirements.append(requirement)
            if pos < len(tokens):
                if tokens[pos] != ",":
                    raise _selector_error(f"found '{tokens[pos]}', expected: ',' or 'end of string'")
                pos += 1
                if pos == len(tokens):
                    raise _selector_error("found '', expected: !, identifier, or 'end of string'")
        return cls(tuple(requirements))

    @classmethod
    def from_label_selector_object(cls, selector: Mapping[str, Any]) -> LabelSelector:
        """A metav1.LabelSelector (matchLabels + matchExpressions), as used inside specs."""
        requirements = [
            LabelRequirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()
        ]
        for expression in selector.get("matchExpressions") or ():
            op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}[
                expression["operator"]
            ]
            requirements.append(
                LabelRequirement(expression["key"], op, tuple(expression.get("values") or ()))
            )
        return cls(tuple(requirements))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _selector_error(why: str) -> ApiError:
    return bad_request(f"unable to parse requirement: {why}")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:  # pragma: no cover - the token regex accepts every non-space character
            raise _selector_error(f"unexpected character at {pos}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _check_key(key: str) -> None:
    errors = qualified_name_errors(key)
    if errors:
        raise _selector_error(f'<nil>: Invalid value: "{key}": ' + "; ".join(errors))


def _check_value(value: str) -> None:
    errors = label_value_errors(value)
    if errors:
        raise _selector_error(f'values[0]: Invalid value: "{value}": ' + "; ".join(errors))


def _parse_requirement(tokens: list[str], pos: int) -> tuple[LabelRequirement, int]:
    if tokens[pos] == "!":
        if pos + 1 >= len(tokens) or not _is_identifier(tokens[pos + 1]):
            found = tokens[pos + 1] if pos + 1 < len(tokens) else ""
            raise _selector_error(f"found '{found}', expected: identifier after '!'")
        _check_key(tokens[pos + 1])
        return LabelRequirement(tokens[pos + 1], "!"), pos + 2
    key = tokens[pos]
    if not _is_identifier(key):
        raise _selector_error(f"found '{key}', expected: !, identifier, or 'end of string'")
    _check_key(key)
    pos += 1
    if pos == len(tokens) or tokens[pos] == ",":
        return LabelRequirement(key, "exists"), pos
    op = tokens[pos]
    pos += 1
    if op in ("=", "==", "!="):
        value = tokens[pos] if pos < len(tokens) and _is_identifier(tokens[pos]) else ""
        if value:
            pos += 1
        _check_value(value)
        return LabelRequirement(key, "!=" if op == "!=" else "=", (value,)), pos
    if op in ("<", ">"):
        if pos >= len(tokens):
            raise _selector_error("found '', expected: integer value")
        try:
            int(tokens[pos])
        except ValueError:
            raise _selector_error(
                f"for 'gt', 'lt' operators, the value must be an integer: {tokens[pos]}"
            ) from None
        return LabelRequirement(key, "gt" if op == ">" else "lt", (tokens[pos],)), pos + 1
    if op in ("in", "notin"):
        if pos >= len(tokens) or tokens[pos] != "(":
            found = tokens[pos] if pos < len(tokens) else ""
            raise _selector_error(f"found '{found}', expected: '('")
        pos += 1
        values: list[str] = []
        expect_value = True
        while True:
            if pos >= len(tokens):
                raise _selector_error("found '', expected: ',', ')' or identifier")
            token = tokens[pos]
            pos += 1
            if token == ")":
                if expect_value and values:
                    values.append("")
                break
            if token == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not expect_value or not _is_identifier(token):
                raise _selector_error(f"found '{token}', expected: ',', ')' or identifier")
            _check_value(token)
            values.append(token)
            expect_value = False
        if not values:
            raise _selector_error("for 'in', 'notin' operators, values set can't be empty")
        return LabelRequirement(key, op, tuple(values)), pos
    raise _selector_error(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")


def _is_identifier(token: str) -> bool:
    return token not in ("==", "!=", "=", "(", ")", ",", "!", "<", ">")


# ---------------------------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class FieldRequirement:
    label: str
    negated: bool
    value: str


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a field, as Kubernetes' field label functions produce it."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


class FieldSelector:
    """A parsed `fieldSelector`; only labels the resource supports are accepted (400 otherwise)."""

    def __init__(self, requirements: tuple[FieldRequirement, ...], paths: Mapping[str, str]) -> None:
        self.requirements = requirements
        self._paths = paths

    @classmethod
    def parse(
        cls, text: str, supported: Mapping[str, str], *, default_conversion: bool = False
    ) -> FieldSelector:
        """Parse and check every label. `default_conversion` selects apimachinery's default field
        label conversion (types without their own), whose rejection is worded differently. The
        real server sorts the terms by label before converting them, so the label an error names
        is the first unsupported one in sorted order, not in the order given."""
        requirements: list[FieldRequirement] = []
        for term in _split_unescaped(text, ","):
            if term:
                requirements.append(_parse_field_term(term))
        requirements.sort(key=lambda requirement: requirement.label)
        for requirement in requirements:
            if requirement.label in supported:
                continue
            if default_conversion:
                raise bad_request(
                    f'"{requirement.label}" is not a known field selector: only "metadata.name", '
                    '"metadata.namespace"'
                )
            raise bad_request(f"field label not supported: {requirement.label}")
        return cls(tuple(requirements), supported)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for requirement in self.requirements:
            equal = field_value(obj, self._paths[requirement.label]) == requirement.value
            if equal == requirement.negated:
                return False
        return True

    def exact_name(self) -> str | None:
        """The name a `metadata.name=X` requirement pins, so lookups can skip a scan."""
        for requirement in self.requirements:
            if requirement.label == "metadata.name" and not requirement.negated:
                return requirement.value
        return None

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _parse_field_term(term: str) -> FieldRequirement:
    for op in ("!=", "==", "="):
        index = _find_unescaped(term, op)
        if index >= 0:
            label = term[:index].strip()
            value = _unescape(term[index + len(op) :])
            return FieldRequirement(label, op == "!=", value)
    raise bad_request(f"invalid selector: '{term}'; can't understand '{term}'")


def _find_unescaped(term: str, op: str) -> int:
    index = term.find(op)
    while index > 0 and term[index - 1] == "\\":
        index = term.find(op, index + 1)
    return index
