"""Parsers for upstream's flag value syntaxes (Go pflag style), so existing Helm values keep working.

The AWS Load Balancer Controller is a Go program: booleans are written ``--flag=false``, durations
as Go durations (``10h``, ``16m40s``), and maps as ``k1=v1,k2=v2``. Each parser raises
``ValueError`` with a message naming the value, which argparse turns into a usage error.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")

_TRUE = frozenset({"1", "t", "true", "TRUE", "True", "T"})
_FALSE = frozenset({"0", "f", "false", "FALSE", "False", "F"})


def parse_bool(text: str) -> bool:
    """Parse a boolean the way Go's ``strconv.ParseBool`` does."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid boolean {text!r}")


def parse_duration(text: str) -> float:
    """Parse a Go duration (``1h30m``, ``15s``, ``500ms``, ``0``) into seconds."""
    value = text.strip()
    if not value:
        raise ValueError(f"invalid duration {text!r}")
    if value in ("0", "+0", "-0"):
        return 0.0
    sign = 1.0
    if value[:1] in "+-":
        sign = -1.0 if value[0] == "-" else 1.0
        value = value[1:]
    if not value:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def parse_string_map(text: str) -> dict[str, str]:
    """Parse ``k1=v1,k2=v2`` (pflag's StringToString); an empty string is an empty map."""
    result: dict[str, str] = {}
    if not text.strip():
        return result
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"invalid key=value pair {item!r} in {text!r}")
        result[key] = value.strip()
    return result


def parse_string_list(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list, trimming items and dropping empty ones."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_bool_map(text: str) -> dict[str, bool]:
    """Parse ``--feature-gates=A=true,B=false``."""
    return {key: parse_bool(value) for key, value in parse_string_map(text).items()}


def format_duration(seconds: float) -> str:
    """Write seconds as Go prints a duration (``10h0m0s``, ``16m40s``, ``15s``, ``500ms``), so
    ``--help`` shows defaults in the syntax the flags accept."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    remaining = abs(seconds)
    if remaining < 1:
        return f"{sign}{remaining * 1000:g}ms"
    hours, remaining = divmod(remaining, 3600)
    minutes, remaining = divmod(remaining, 60)
    text = f"{remaining:g}s"
    if hours or minutes:
        text = f"{minutes:g}m{text}"
    if hours:
        text = f"{hours:g}h{text}"
    return sign + text
