"""config/iam: every AWS operation the facades can send is allowed by the controller's policy, and
every operation ``plan`` can send (``Describe*`` only) by the plan policy."""

from __future__ import annotations

import json
import re
from pathlib import Path

from controller.aws import ec2, elbv2

REPO = Path(__file__).resolve().parents[3]
_IAM_SERVICE = {"ec2": "ec2", "elbv2": "elasticloadbalancing"}
# A facade call: self._api.call("ec2", "CreateTags", ...) or paginate("ec2", DESCRIBE_SECURITY_GROUPS, ...).
_CALL = re.compile(r'\.(?:call|paginate)\(\s*"(ec2|elbv2)",\s*(?:"(\w+)"|([A-Z_]+))')


def facade_operations() -> set[str]:
    found: set[str] = set()
    for module in (ec2, elbv2):
        source = Path(str(module.__file__)).read_text()
        for service, literal, constant in _CALL.findall(source):
            operation = literal or str(getattr(module, constant))
            found.add(f"{_IAM_SERVICE[service]}:{operation}")
    return found


def allowed(policy: str) -> set[str]:
    document = json.loads((REPO / "config" / "iam" / policy).read_text())
    return {action for statement in document["Statement"] for action in statement["Action"]}


def test_the_facades_name_their_operations_where_this_test_finds_them() -> None:
    assert {
        "ec2:CreateSecurityGroup",
        "ec2:DescribeSecurityGroups",
        "elasticloadbalancing:SetSecurityGroups",
    } <= (facade_operations())


def test_the_controller_policy_allows_every_operation_the_facades_send() -> None:
    assert facade_operations() - allowed("iam_policy.json") == set()


def test_the_plan_policy_allows_every_read_and_nothing_else() -> None:
    """``plan`` forwards only ``Describe*`` operations (``controller.plan.dry_run``); the same
    read-only policy serves ``gc`` in report mode."""
    reads = {op for op in facade_operations() if op.split(":", 1)[1].startswith("Describe")}
    assert allowed("plan_policy.json") == reads
