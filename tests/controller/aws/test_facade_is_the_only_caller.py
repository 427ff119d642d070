"""Only the facades name AWS operations: everything else in ``controller/`` calls ``Ec2``/``Elbv2``.

The sandbox (the test AWS proxy) is the exception: it speaks AWS's protocol itself. So is the
table of AWS's per-API buckets (``aws/aws_limits.py``), which names operations to size their
throttles, never to call them, and so is ``plan`` (``controller/plan/``): its dry-run ``AwsApi``
sits below the facades, records the calls they would send and reads them back by operation name
to print them; it never sends anything but ``Describe*``.
"""

from __future__ import annotations

import ast
import pathlib

import botocore.session

CONTROLLER = pathlib.Path(__file__).resolve().parents[3] / "controller"
ALLOWED = {
    CONTROLLER / "aws" / "ec2.py",
    CONTROLLER / "aws" / "elbv2.py",
    CONTROLLER / "aws" / "aws_limits.py",
}


def _operation_names() -> frozenset[str]:
    session = botocore.session.get_session()
    return frozenset(
        name for service in ("ec2", "elbv2") for name in session.get_service_model(service).operation_names
    )


def test_no_operation_name_is_spelled_outside_the_facades() -> None:
    operations = _operation_names()
    found = []
    for path in sorted(CONTROLLER.rglob("*.py")):
        if path in ALLOWED or {CONTROLLER / "sandbox", CONTROLLER / "plan"} & set(path.parents):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in operations:
                found.append(f"{path.relative_to(CONTROLLER.parent)}:{node.lineno}: {node.value}")
    assert found == []
