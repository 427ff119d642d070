"""Every "upstream-behaviour §x.y" and "Difference N" cited in the code resolves to a heading in docs/.

Comments cite the design documents instead of repeating them; a citation of a section that was
renumbered or never written sends the reader nowhere, so it fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITING_TREES = ("controller", "framework", "tests", "benchmarks")
SECTION_CITATION = re.compile(r"upstream-behaviour(?:\.md)? §(\d+(?:\.\d+)?)")
DIFFERENCE_CITATION = re.compile(r"Differences? (\d+(?:, \d+)*)")
SECTION_HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?) ", re.MULTILINE)
DIFFERENCE_HEADING = re.compile(r"^### Difference (\d+):", re.MULTILINE)


def _sources() -> list[Path]:
    return [path for tree in CITING_TREES for path in sorted((ROOT / tree).rglob("*.py"))]


def _citations(pattern: re.Pattern[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in _sources():
        for match in pattern.finditer(path.read_text()):
            for number in match.group(1).split(", "):
                found.setdefault(number, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_cited_upstream_section_is_a_heading() -> None:
    headings = set(SECTION_HEADING.findall((ROOT / "docs/upstream-behaviour.md").read_text()))
    citations = _citations(SECTION_CITATION)
    assert citations, "the code cites upstream-behaviour sections; the pattern must find them"
    missing = {number: files for number, files in citations.items() if number not in headings}
    assert missing == {}


def test_every_cited_difference_is_a_heading() -> None:
    headings = set(DIFFERENCE_HEADING.findall((ROOT / "docs/design.md").read_text()))
    citations = _citations(DIFFERENCE_CITATION)
    assert citations, "the code cites design differences; the pattern must find them"
    missing = {number: files for number, files in citations.items() if number not in headings}
    assert missing == {}
