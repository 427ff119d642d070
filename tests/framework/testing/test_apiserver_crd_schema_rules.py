"""Corners of the stand-in's CRD schema handling that the conformance tests
(`test_apiserver_crd_schema`) do not reach through the CRDs they install: Go's number formatting
and regular expressions, the date-time format, and pruning/defaulting rules of apiextensions'
algorithms (each case is what the Go code does; the comments name the rule)."""

from __future__ import annotations

from typing import Any

import pytest

from framework.testing.apiserver.crd_defaulting import decode_custom_resource
from framework.testing.apiserver.crd_schema import VersionSchema, go_regexp, parse_schema
from framework.testing.apiserver.crd_validation import list_type_errors, validate_custom_resource
from framework.testing.apiserver.errors import go_float


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (1.0, "1"),
        (65535.0, "65535"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1.5, "1.5"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.25, "-2.25"),
    ],
)
def test_floats_print_as_go_prints_them(value: float, printed: str) -> None:
    assert go_float(value) == printed


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),  # Go's `$` is the end of the text
        (r"^a\$$", "a$", True),
        ("^[$]+$", "$$", True),  # `$` inside a class is a literal
        ("^[]a]+$", "]a", True),
        (r"^\d+$", "١٢", False),  # Go's \d is ASCII
    ],
)
def test_patterns_behave_as_go_regexps(pattern: str, text: str, matches: bool) -> None:
    compiled = go_regexp(pattern)
    assert compiled is not None
    assert (compiled.search(text) is not None) is matches


def _errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[tuple[str, str]]:
    version = VersionSchema(parse_schema(schema), has_validation_rules=False)
    return [(e.field, e.body()) for e in validate_custom_resource(version, obj, None, status_only=False)]


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2026-01-02T03:04:05Z", True),
        ("2026-01-02t03:04:05.123+01:00", True),
        ("2026-02-30T00:00:00Z", False),
        ("2026-01-02T24:00:00Z", False),
        ("2026-01-02T03:04:05", False),
        ("2026-01-02", False),
    ],
)
def test_date_time_format(text: str, valid: bool) -> None:
    schema = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    found = _errors(schema, {"at": text})
    assert found == (
        [] if valid else [("at", f'Invalid value: "{text}": at in body must be of type date-time: "{text}"')]
    )


def test_a_fraction_where_an_int32_belongs_fails_type_and_range() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "format": "int32"}}}
    assert _errors(schema, {"n": 1.5}) == [
        ("n", 'Invalid value: "float64": n in body must be of type int32: "float64"'),
        ("<nil>", 'Invalid value: "": Checked value must be of type integer with format int32 in n'),
    ]
    assert _errors(schema, {"n": 2.0}) == []  # a whole float is an integer
    assert _errors(schema, {"n": 2**31}) == [
        ("<nil>", 'Invalid value: "": Checked value must be of type integer with format int32 in n')
    ]


def test_only_the_second_appearance_of_a_set_member_is_a_duplicate() -> None:
    schema = parse_schema(
        {
            "type": "object",
            "properties": {
                "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
            },
        }
    )
    assert [(e.field, e.body()) for e in list_type_errors({"s": ["a", "a", "a", "b", "b"]}, schema)] == [
        ("s[1]", 'Duplicate value: "a"'),
        ("s[4]", 'Duplicate value: "b"'),
    ]


def test_lists_under_preserve_unknown_fields_are_not_pruned_item_by_item() -> None:
    # skipPrune goes on into the items with the items' schema, still without pruning at that level.
    schema = parse_schema(
        {
            "type": "object",
            "properties": {
                "open": {
                    "type": "array",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "items": {
                        "type": "object",
                        "properties": {"known": {"type": "object", "properties": {}}},
                    },
                }
            },
        }
    )
    obj: dict[str, Any] = {"open": [{"kept": 1, "known": {"dropped": 2}}], "gone": 3}
    decode_custom_resource(obj, schema)
    assert obj == {"open": [{"kept": 1, "known": {}}]}


def test_null_map_values_and_items_take_their_default_or_follow_nullability() -> None:
    schema = parse_schema(
        {
            "type": "object",
            "properties": {
                "map": {"type": "object", "additionalProperties": {"type": "string", "default": "x"}},
                "plain": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "string"}},
                "maybe": {"type": "string", "nullable": True},
            },
        }
    )
    obj: dict[str, Any] = {"map": {"a": None}, "plain": {"b": None}, "items": [None], "maybe": None}
    decode_custom_resource(obj, schema)
    # A null map value with a default is defaulted, one without is dropped; a null array item
    # without a default stays (validation refuses it); a nullable null stays.
    assert obj == {"map": {"a": "x"}, "plain": {}, "items": [None], "maybe": None}
