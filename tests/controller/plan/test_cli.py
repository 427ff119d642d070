"""``aws-lb-sg-controller plan``: errors are exit code 1 (2 means "changes"), help is 0.

Exit codes 0 and 2 against a real cluster and AWS: tests/e2e/test_e2e_plan.py.
"""

from __future__ import annotations

import pytest

from controller.__main__ import main


def test_a_bad_flag_is_an_error_not_a_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--no-such-flag"]) == 1


def test_a_missing_manifest_is_an_error_before_anything_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--cluster-name=c", "-f", "/nonexistent/app.yaml"]) == 1
    assert "plan failed: /nonexistent/app.yaml" in capsys.readouterr().err


def test_help_lists_the_plan_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "-f FILE|DIR|-" in out and "--output {text,json}" in out


def test_a_bad_output_format_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--cluster-name=c", "-o", "yaml"]) == 1
