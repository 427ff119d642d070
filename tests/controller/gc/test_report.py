"""The ``gc`` output: one table per kind for people, one JSON document for machines."""

from __future__ import annotations

import json

from controller.gc.apply import Removal
from controller.gc.finder import (
    SOURCE_MISSING,
    LeakedElbv2Resource,
    LeakedRule,
    LeakedSecurityGroup,
    LeakReport,
)
from controller.gc.report import render_json, render_removals_text, render_text
from controller.naming import SERVICE_TAG_PREFIX, TGB_RULE_DESCRIPTION, StackTags
from controller.networking.rules import Rule, SecurityGroupSource

STACK = StackTags("c", SERVICE_TAG_PREFIX, "ns/web")
REPORT = LeakReport(
    security_groups=(
        LeakedSecurityGroup("sg-1", "k8s-ns-web-1", STACK),
        LeakedSecurityGroup("sg-2", "k8s-traffic", None),
    ),
    load_balancers=(LeakedElbv2Resource("arn:lb", "k8s-ns-web-lb", STACK),),
    rules=(
        LeakedRule(
            "sg-nodes",
            Rule.of("tcp", 30080, 30080, SecurityGroupSource("sg-gone"), TGB_RULE_DESCRIPTION),
            SOURCE_MISSING,
        ),
    ),
    stacks=(STACK,),
)


def test_text_lists_each_kind_with_its_owner_and_a_total() -> None:
    text = render_text(REPORT, cluster_name="c", vpc_id="vpc-1")
    assert "Security groups: 2" in text and "Target groups: 0" in text
    assert "sg-1  k8s-ns-web-1  service.k8s.aws/stack=ns/web" in text
    assert "backend SG: no load balancer uses it" in text
    assert "sg-nodes        tcp 30080-30080 from sg sg-gone  source security group does not exist" in text
    assert text.endswith("4 leaked: 2 security group(s), 1 load balancer(s), 0 target group(s), 1 rule(s).\n")
    assert render_text(LeakReport(), cluster_name="c", vpc_id="vpc-1").endswith("No leaks.\n")


def test_json_has_counts_every_leak_and_what_apply_did() -> None:
    removal = Removal("stack", "service.k8s.aws/stack=ns/web", "blocked", detail="DependencyViolation")
    document = json.loads(render_json(REPORT, cluster_name="c", vpc_id="vpc-1", removals=(removal,)))
    assert document["counts"] == {"securityGroups": 2, "loadBalancers": 1, "targetGroups": 0, "rules": 1}
    assert document["securityGroups"][1] == {
        "groupID": "sg-2",
        "name": "k8s-traffic",
        "kind": "backend",
        "stack": None,
    }
    assert document["loadBalancers"][0]["stack"] == {"prefix": "service.k8s.aws", "stackID": "ns/web"}
    assert document["rules"] == [
        {
            "groupID": "sg-nodes",
            "protocol": "tcp",
            "fromPort": 30080,
            "toPort": 30080,
            "source": {"kind": "sg", "value": "sg-gone"},
            "description": TGB_RULE_DESCRIPTION,
            "reason": SOURCE_MISSING,
        }
    ]
    assert document["applied"] == [
        {
            "kind": "stack",
            "target": "service.k8s.aws/stack=ns/web",
            "status": "blocked",
            "removed": [],
            "detail": "DependencyViolation",
        }
    ]
    assert "BLOCKED  stack service.k8s.aws/stack=ns/web" in render_removals_text((removal,))
