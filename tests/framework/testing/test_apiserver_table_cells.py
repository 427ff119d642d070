"""The Table helpers on their own: Accept negotiation, kube-apiserver's human durations and the
jsonPath subset printer columns use (the conformance tests check them end to end)."""

from __future__ import annotations

import pytest

from framework.testing.apiserver.table_cells import human_duration
from framework.testing.apiserver.table_custom import MISSING, JsonPath
from framework.testing.apiserver.tables import negotiate_table

TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", None),
        ("application/json", None),
        ("*/*", None),
        (TABLE_V1, "meta.k8s.io/v1"),
        (f"{TABLE_V1},application/json", "meta.k8s.io/v1"),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "meta.k8s.io/v1beta1"),
        # Ranges the stand-in cannot serve are skipped, not answered with the plain object...
        (f"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,{TABLE_V1}", "meta.k8s.io/v1"),
        (f"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,{TABLE_V1}", "meta.k8s.io/v1"),
        ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", None),
        ("application/json;as=Table;v=v1", None),  # no group: not a conversion the server makes
        # ...and the highest quality wins, the earliest among equals.
        (f"{TABLE_V1};q=0.5,application/json", None),
        (f"application/json;q=0.5,{TABLE_V1}", "meta.k8s.io/v1"),
    ],
)
def test_negotiate_table(accept: str, expected: str | None) -> None:
    assert negotiate_table(accept) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 7 + 5, "3h7m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400 - 1, "729d"),
        (2 * 365 * 86400, "2y"),
        (2 * 365 * 86400 + 86400, "2y1d"),
        (8 * 365 * 86400 + 86400, "8y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


OBJECT = {
    "metadata": {"name": "g", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {"items": [{"name": "a", "port": 1}, {"name": "b", "port": 2}], "empty": None},
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (".metadata.name", "g"),
        ("{.metadata.name}", "g"),
        (".spec.items[1].port", 2),
        (".spec.items[-1].name", "b"),
        (".spec.items[*].name", "a"),
        ('.spec.items[?(@.name=="b")].port', 2),
        (".spec.items[?(@.port!=1)].name", "b"),
        (".spec.items[?(@.port==1)].name", "a"),
        (".metadata.labels['app.kubernetes.io/name']", "web"),
        (".spec.empty", None),
    ],
)
def test_json_path_first_result(path: str, value: object) -> None:
    parsed = JsonPath.parse(path)
    assert parsed is not None
    assert parsed.first(OBJECT) == value


@pytest.mark.parametrize("path", [".spec.missing", ".spec.items[5]", '.spec.items[?(@.name=="z")]'])
def test_json_path_without_result(path: str) -> None:
    parsed = JsonPath.parse(path)
    assert parsed is not None
    assert parsed.first(OBJECT) is MISSING


def test_unparseable_json_path() -> None:
    assert JsonPath.parse(".spec.items[") is None
