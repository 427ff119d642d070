"""The Grafana dashboard's queries as Grafana sends them to Prometheus.

Shared by the structural test (tests/config) and the end-to-end test that runs every query through a
real Prometheus scraping the controller (tests/e2e).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD_PATH = Path(__file__).resolve().parent.parent / "config" / "grafana" / "aws-lb-sg-controller.json"
GRID_COLUMNS = 24
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class PanelQuery:
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str


def load_dashboard(path: Path = DASHBOARD_PATH) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def all_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included; a collapsed row keeps its panels inside itself."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The panels that show data (everything but rows)."""
    return [panel for panel in all_panels(dashboard) if panel["type"] != "row"]


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(panel["id"], panel["title"], target["refId"], target["expr"])
        for panel in query_panels(dashboard)
        for target in panel["targets"]
    ]


def all_value(dashboard: Mapping[str, Any], variable: str) -> str:
    """What Grafana substitutes for ``variable`` when "All" is selected (its ``allValue``)."""
    for entry in dashboard["templating"]["list"]:
        if entry["name"] == variable:
            value: str = entry["allValue"]
            return value
    raise KeyError(variable)


def rate_interval_s(interval_s: float, scrape_interval_s: float) -> float:
    """Grafana's ``$__rate_interval``: at least four scrapes, and at least one step plus a scrape."""
    return max(interval_s + scrape_interval_s, 4 * scrape_interval_s)


def interpolate(
    expr: str, *, variables: Mapping[str, str], interval_s: float, scrape_interval_s: float
) -> str:
    """The query Grafana would send: built-in intervals and template variables substituted.

    An unknown variable raises KeyError, so a typo in the dashboard fails the test instead of
    reaching Prometheus as a literal ``$name``.
    """
    builtins = {
        "__rate_interval": f"{rate_interval_s(interval_s, scrape_interval_s):g}s",
        "__interval": f"{interval_s:g}s",
    }
    known = {**builtins, **variables}

    def replace(match: re.Match[str]) -> str:
        return known[match.group(1) or match.group(2)]

    return _VARIABLE.sub(replace, expr)
