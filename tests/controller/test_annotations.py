"""Annotation value parsers: exact upstream syntax, and nothing but the typed error on bad input."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.annotations import (
    ING_INBOUND_CIDRS,
    ING_LISTEN_PORTS,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
    ObjectRef,
    parse_bool,
    parse_cidrs,
    parse_int,
    parse_listen_ports,
    parse_string_list,
    parse_string_map,
)

REF = ObjectRef("Ingress", "ns", "web")


def test_listen_ports_valid() -> None:
    assert parse_listen_ports(REF, ING_LISTEN_PORTS, '[{"HTTP":80},{"HTTPS":443}]') == {
        80: "HTTP",
        443: "HTTPS",
    }
    assert parse_listen_ports(REF, ING_LISTEN_PORTS, '[{"HTTP":80, "HTTPS":8443}]') == {
        80: "HTTP",
        8443: "HTTPS",
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("[]", "empty"),
        ("null", "empty"),
        ("not json", "JSON"),
        ('{"HTTP": 80}', "list"),
        ('[{"HTTP": 0}]', "[1, 65535]"),
        ('[{"HTTP": 65536}]', "[1, 65535]"),
        ('[{"TCP": 80}]', "HTTP, HTTPS"),
        ('[{"HTTP": "80"}]', "integer"),
        ('[{"HTTP": 80.5}]', "integer"),
        ('[{"HTTP": true}]', "integer"),
        ("[80]", "object"),
    ],
)
def test_listen_ports_invalid(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAnnotationError) as caught:
        parse_listen_ports(REF, ING_LISTEN_PORTS, raw)
    error = caught.value
    assert reason in error.reason
    assert (error.object_ref, error.key, error.value) == (REF, ING_LISTEN_PORTS, raw)
    assert "Ingress ns/web" in str(error) and ING_LISTEN_PORTS in str(error) and repr(raw) in str(error)


def test_cidrs_split_by_family_and_kept_as_written() -> None:
    parsed = parse_cidrs(REF, ING_INBOUND_CIDRS, ["10.0.0.1/8", "2001:db8::/32", "192.168.0.0/16"])
    assert parsed.ipv4 == ("10.0.0.1/8", "192.168.0.0/16")
    assert parsed.ipv6 == ("2001:db8::/32",)


@pytest.mark.parametrize(
    "cidr",
    [
        "10.0.0.0/33",
        "10.0.0.0",
        "300.0.0.0/8",
        "abc/8",
        "2001:db8::/129",
        "10.0.0.0/255.0.0.0",
        "fe80::1%eth0/64",
    ],
)
def test_invalid_cidrs(cidr: str) -> None:
    with pytest.raises(InvalidAnnotationError, match="invalid CIDR"):
        parse_cidrs(REF, ING_INBOUND_CIDRS, [cidr])


def test_string_list_and_map() -> None:
    assert parse_string_list(" a, ,b ,") == ("a", "b")
    assert parse_string_map(REF, "k", "a=1, b = 2 ,c=") == {"a": "1", "b": "2", "c": ""}
    with pytest.raises(InvalidAnnotationError, match="not key=value"):
        parse_string_map(REF, "k", "a=1,b")


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        # Upstream parser_test Test_serviceAnnotationParser_ParseStringMapAnnotation.
        (
            "key1=value1, key2=value2, key3/with-slash=value3, key4/empty-value=",
            {"key1": "value1", "key2": "value2", "key3/with-slash": "value3", "key4/empty-value": ""},
        ),
        (
            "key1=value1\\,valueOne, key2= value2, key3/with-slash=value3\\,valueThree, key4/empty-value=",
            {
                "key1": "value1,valueOne",
                "key2": "value2",
                "key3/with-slash": "value3,valueThree",
                "key4/empty-value": "",
            },
        ),
        (
            "key1=Mjk5NzkyNDU4Cg==, foo=ZGF=0=ZQo=, res=value_:/=+-@",
            {"key1": "Mjk5NzkyNDU4Cg==", "foo": "ZGF=0=ZQo=", "res": "value_:/=+-@"},
        ),
        ("key1,key2", None),
        ("=value", None),
        # The same splitter's other rules: empty input, a trailing comma stays in the value, an
        # empty item between commas, a comma followed by text without "=", a later key wins.
        ("", {}),
        ("a=1,", {"a": "1,"}),
        ("a=1, ", {"a": "1,"}),
        ("a=1,,b=2", None),
        ("a=1,2", None),
        ("a=1,2,b=3", None),
        ("a=1, a=2", {"a": "2"}),
        ("a=b\\", {"a": "b\\"}),
    ],
)
def test_string_map_matches_upstream_parser(raw: str, want: dict[str, str] | None) -> None:
    if want is not None:
        assert parse_string_map(REF, "k", raw) == want
        return
    with pytest.raises(InvalidAnnotationError) as raised:
        parse_string_map(REF, "k", raw)
    assert (raised.value.key, raised.value.value) == ("k", raw)
    assert raised.value.reason.startswith("failed to parse stringMap annotation")


def test_bool_and_int() -> None:
    assert parse_bool(REF, "k", "True") is True
    assert parse_bool(REF, "k", "0") is False
    with pytest.raises(InvalidAnnotationError):
        parse_bool(REF, "k", "yes")
    assert parse_int(REF, "k", "-1000", -1000, 1000) == -1000
    with pytest.raises(InvalidAnnotationError, match=r"\[-1000, 1000\]"):
        parse_int(REF, "k", "1001", -1000, 1000)


def test_conflict_error_names_every_object_and_value() -> None:
    a, b = ObjectRef("Ingress", "ns", "a"), ObjectRef("Ingress", "ns", "b")
    error = ConflictingGroupSettingError(
        "inbound-cidrs", ING_INBOUND_CIDRS, [(a, "10.0.0.0/8"), (b, "172.16.0.0/12")]
    )
    assert error.objects == (a, b)
    assert str(error) == (
        "conflicting inbound-cidrs (alb.ingress.kubernetes.io/inbound-cidrs): "
        "Ingress ns/a has '10.0.0.0/8'; Ingress ns/b has '172.16.0.0/12'"
    )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_listen_ports_never_raise_anything_but_the_typed_error(raw: str) -> None:
    try:
        ports = parse_listen_ports(REF, ING_LISTEN_PORTS, raw)
    except InvalidAnnotationError:
        return
    assert ports and all(1 <= p <= 65535 and proto in ("HTTP", "HTTPS") for p, proto in ports.items())


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["HTTP", "HTTPS", "TCP", ""]), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(json_like)
def test_listen_ports_on_arbitrary_json(value: object) -> None:
    raw = json.dumps(value)
    try:
        parse_listen_ports(REF, ING_LISTEN_PORTS, raw)
    except InvalidAnnotationError as error:
        assert error.value == raw


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_cidr_parsing_never_raises_anything_but_the_typed_error(raw: str) -> None:
    try:
        parsed = parse_cidrs(REF, ING_INBOUND_CIDRS, parse_string_list(raw), raw)
    except InvalidAnnotationError as error:
        assert error.key == ING_INBOUND_CIDRS and error.value == raw
        return
    assert len(parsed.ipv4) + len(parsed.ipv6) == len(parse_string_list(raw))


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(-2000, 0), st.integers(0, 2000))
def test_int_map_and_bool_parsing_only_raise_the_typed_error(raw: str, low: int, high: int) -> None:
    with contextlib.suppress(InvalidAnnotationError):
        assert low <= parse_int(REF, "k", raw, low, high) <= high
    with contextlib.suppress(InvalidAnnotationError):
        parse_string_map(REF, "k", raw)
    with contextlib.suppress(InvalidAnnotationError):
        assert parse_bool(REF, "k", raw) in (True, False)
