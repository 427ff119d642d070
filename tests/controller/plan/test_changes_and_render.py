"""From recorded writes to the plan a person reads (``+``/``-``/``~`` per SG and resource) and to JSON."""

from __future__ import annotations

import json
from typing import Any

from controller.aws.ec2_types import SecurityGroup
from controller.networking.rules import Rule, SecurityGroupSource
from controller.networking.sg_info import SecurityGroupInfo
from controller.plan.changes import build_plan, port_deltas
from controller.plan.dry_run import PlannedCall
from controller.plan.planner import PlanOutcome, PlanWarning
from controller.plan.render import plan_json, render_human, render_json

LABEL = "elbv2.k8s.aws/targetGroupBinding=shared"
NODE_SG, BACKEND_SG, OLD_SG, NEW_SG = "sg-node", "sg-backend", "sg-old", "planned-sg-1"
LB_ARN = "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/k8s-shop-front/abc"


def group(group_id: str, name: str, permissions: list[dict[str, Any]] | None = None) -> SecurityGroupInfo:
    return SecurityGroupInfo.from_aws(
        SecurityGroup.from_aws(
            {"GroupId": group_id, "GroupName": name, "VpcId": "vpc-1", "IpPermissions": permissions or []}
        )
    )


def from_backend(low: int, high: int) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": low,
        "ToPort": high,
        "UserIdGroupPairs": [{"GroupId": BACKEND_SG, "Description": LABEL}],
    }


def outcome() -> PlanOutcome:
    """A repack on the node SG, a new managed SG, the LB switched to it, the old SG deleted."""
    calls = (
        PlannedCall(
            "ec2",
            "CreateSecurityGroup",
            {
                "GroupName": "k8s-shop-front-1",
                "TagSpecifications": [{"Tags": [{"Key": "ingress.k8s.aws/stack", "Value": "shop/front"}]}],
            },
            NEW_SG,
        ),
        PlannedCall(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            {
                "GroupId": NEW_SG,
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 80,
                        "ToPort": 80,
                        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                    }
                ],
            },
        ),
        PlannedCall(
            "elbv2", "SetSecurityGroups", {"LoadBalancerArn": LB_ARN, "SecurityGroups": [NEW_SG, BACKEND_SG]}
        ),
        PlannedCall(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            {"GroupId": NODE_SG, "IpPermissions": [from_backend(30000, 30010)]},
        ),
        PlannedCall(
            "ec2",
            "RevokeSecurityGroupIngress",
            {"GroupId": NODE_SG, "IpPermissions": [from_backend(30000, 30005)]},
        ),
        PlannedCall("ec2", "DeleteTags", {"Resources": [NODE_SG], "Tags": [{"Key": "stale"}]}),
        PlannedCall("ec2", "DeleteSecurityGroup", {"GroupId": OLD_SG}),
    )
    groups = {
        NODE_SG: group(NODE_SG, "cluster-nodes", [from_backend(30000, 30005)]),
        BACKEND_SG: group(BACKEND_SG, "k8s-traffic-c-1"),
        OLD_SG: group(OLD_SG, "k8s-shop-front-0"),
        NEW_SG: group(NEW_SG, "k8s-shop-front-1"),
    }
    lbs = {
        LB_ARN: {
            "LoadBalancerArn": LB_ARN,
            "LoadBalancerName": "k8s-shop-front",
            "SecurityGroups": [OLD_SG, BACKEND_SG],
        }
    }
    return PlanOutcome(
        calls=calls,
        security_groups=groups,
        load_balancers=lbs,
        target_groups={},
        warnings=(PlanWarning("service shop/bad", "Failed build model due to bad annotation"),),
    )


def test_changes_are_grouped_per_security_group_and_resource() -> None:
    plan = build_plan(outcome())
    assert [(sg.action, sg.name) for sg in plan.security_groups] == [
        ("create", "k8s-shop-front-1"),
        ("update", "cluster-nodes"),
        ("delete", "k8s-shop-front-0"),
    ]
    node = plan.security_groups[1]
    assert [(r.from_port, r.to_port) for r in node.authorize] == [(30000, 30010)]
    assert [(r.from_port, r.to_port) for r in node.revoke] == [(30000, 30005)]
    assert node.tags_removed == ("stale",)
    [lb] = plan.resources
    assert (lb.kind, lb.action, lb.name) == ("load-balancer", "update", "k8s-shop-front")
    assert lb.details == (
        "security groups: [sg-old (k8s-shop-front-0), sg-backend (k8s-traffic-c-1)] -> "
        "[k8s-shop-front-1 (new), sg-backend (k8s-traffic-c-1)]",
    )


def test_a_repack_names_the_ports_it_opens_and_closes() -> None:
    backend = SecurityGroupSource(BACKEND_SG)
    before = [Rule.of("tcp", 30000, 30005, backend), Rule.of("tcp", 30100, 30100, backend)]
    authorize = [Rule.of("tcp", 30000, 30010, backend)]
    revoke = [Rule.of("tcp", 30000, 30005, backend), Rule.of("tcp", 30100, 30100, backend)]
    [delta] = port_deltas(before, authorize, revoke, {BACKEND_SG: "k8s-traffic-c-1"})
    assert (delta.opened, delta.closed) == (((30006, 30010),), ((30100, 30100),))
    assert delta.packed and delta.replaced
    assert delta.source == "sg-backend (k8s-traffic-c-1)"


def test_a_rule_that_only_changes_its_description_opens_nothing() -> None:
    backend = SecurityGroupSource(BACKEND_SG)
    same = Rule.of("tcp", 80, 80, backend)
    assert port_deltas([same], [same], [same], {}) == ()


def test_human_output_reads_like_a_terraform_plan() -> None:
    text = render_human(build_plan(outcome()), cluster_name="c", vpc_id="vpc-1")
    expected_lines = [
        "  + security group k8s-shop-front-1 (new)",
        "      + tag ingress.k8s.aws/stack = shop/front",
        "      + inbound tcp 80 from 10.0.0.0/8",
        "  ~ security group sg-node (cluster-nodes)",
        "      - tag stale",
        f'      + inbound tcp 30000-30010 from sg-backend (k8s-traffic-c-1)  "{LABEL}"',
        f'      - inbound tcp 30000-30005 from sg-backend (k8s-traffic-c-1)  "{LABEL}"',
        "        ports tcp from sg-backend (k8s-traffic-c-1): opens 30006-30010; closes none",
        "  - security group sg-old (k8s-shop-front-0)",
        "  ~ load balancer k8s-shop-front",
        "Plan: security groups: 1 to create, 1 to change, 1 to delete; rules: 2 to authorize, 1 to revoke; "
        "ELBv2 resources: 0 to create, 1 to change, 0 to delete.",
        "  ! service shop/bad: Failed build model due to bad annotation",
    ]
    lines = text.splitlines()
    for line in expected_lines:
        assert line in lines, f"{line!r} not in:\n{text}"
    # The CIDR rule on the new SG opens exactly what its line says: no ports line for it.
    assert "ports tcp from 10.0.0.0/8" not in text


def test_no_changes_says_so() -> None:
    empty = PlanOutcome(calls=(), security_groups={}, load_balancers={}, target_groups={})
    plan = build_plan(empty)
    assert not plan.has_changes
    assert "No changes." in render_human(plan, cluster_name="c", vpc_id="vpc-1")
    assert plan_json(plan, cluster_name="c", vpc_id="vpc-1")["changes"] is False


def test_json_has_every_change_and_the_calls_behind_them() -> None:
    document = json.loads(render_json(build_plan(outcome()), cluster_name="c", vpc_id="vpc-1"))
    assert document["changes"] is True
    assert document["summary"]["rules_to_authorize"] == 2
    node = document["security_groups"][1]
    assert node["rules"]["authorize"] == [
        {
            "protocol": "tcp",
            "from_port": 30000,
            "to_port": 30010,
            "source": {"security_group": BACKEND_SG, "security_group_name": "k8s-traffic-c-1"},
            "description": LABEL,
        }
    ]
    assert node["ports"] == [
        {
            "protocol": "tcp",
            "source": "sg-backend (k8s-traffic-c-1)",
            "opened": [[30006, 30010]],
            "closed": [],
        }
    ]
    assert document["security_groups"][0]["new"] is True
    assert [c["operation"] for c in document["calls"]][:2] == [
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
    ]
    assert document["security_group_names"][NEW_SG] == "k8s-shop-front-1"
    assert document["elbv2"][0]["operations"] == ["SetSecurityGroups"]
    assert document["warnings"] == [
        {"object": "service shop/bad", "message": "Failed build model due to bad annotation"}
    ]


def test_notes_say_what_is_known_after_apply() -> None:
    note = PlanWarning("service shop/new", "not in the cluster yet: names ... are known after apply")
    plan = build_plan(
        PlanOutcome(calls=(), security_groups={}, load_balancers={}, target_groups={}, notes=(note,))
    )
    assert "  * service shop/new: not in the cluster yet" in render_human(plan, cluster_name="c", vpc_id="v")
    assert plan_json(plan, cluster_name="c", vpc_id="v")["notes"] == [
        {"object": "service shop/new", "message": note.message}
    ]


def test_listeners_and_rules_say_what_they_match_and_where_they_forward() -> None:
    listener = "arn:aws:elasticloadbalancing:r:1:listener/app/k8s-shop-front/abc/l1"
    rule = "arn:aws:elasticloadbalancing:r:1:listener-rule/app/k8s-shop-front/abc/l1/r1"
    web = "arn:aws:elasticloadbalancing:r:1:targetgroup/k8s-shop-web/t1"
    forward_new = [{"Type": "forward", "TargetGroupArn": "planned-arn:targetgroup/k8s-shop-api"}]
    calls = (
        PlannedCall(
            "elbv2",
            "CreateTargetGroup",
            {"Name": "k8s-shop-api", "Protocol": "HTTP", "Port": 30090},
            "planned-arn:targetgroup/k8s-shop-api",
        ),
        PlannedCall(
            "elbv2",
            "ModifyRule",
            {
                "RuleArn": rule,
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api"]}}],
                "Actions": forward_new,
            },
        ),
        PlannedCall(
            "elbv2",
            "CreateRule",
            {
                "ListenerArn": listener,
                "Priority": 2,
                "Conditions": [],
                "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
            },
            "planned-arn:listener-rule/2/1",
        ),
    )
    seen = PlanOutcome(
        calls=calls,
        security_groups={},
        load_balancers={LB_ARN: {"LoadBalancerArn": LB_ARN, "LoadBalancerName": "k8s-shop-front"}},
        target_groups={web: {"TargetGroupArn": web, "TargetGroupName": "k8s-shop-web"}},
        listeners={
            listener: {"ListenerArn": listener, "Protocol": "HTTP", "Port": 80, "LoadBalancerArn": LB_ARN}
        },
        listener_rules={
            rule: {
                "RuleArn": rule,
                "Priority": "1",
                "Conditions": [{"Field": "path-pattern", "Values": ["/*"]}],
                "Actions": [{"Type": "forward", "TargetGroupArn": web}],
            }
        },
    )
    text = render_human(build_plan(seen), cluster_name="c", vpc_id="v")
    for line in (
        "  ~ listener rule priority 1 on HTTP:80 on k8s-shop-front",
        "      ~ if path-pattern [/api]  (was: if path-pattern [/*])",
        "      ~ then forward to k8s-shop-api (new)  (was: forward to k8s-shop-web)",
        "  + listener rule priority 2 on HTTP:80 on k8s-shop-front (new)",
        "      if always",
        "      then fixed-response 404",
        "  + target group k8s-shop-api (new)",
    ):
        assert line in text.splitlines(), f"{line!r} not in:\n{text}"


def test_listener_tls_settings_and_certificate_changes_are_shown() -> None:
    listener = "arn:aws:elasticloadbalancing:r:1:listener/app/k8s-shop-front/abc/l443"
    old_cert, new_cert = "arn:aws:acm:r:1:certificate/old", "arn:aws:acm:r:1:certificate/new"
    calls = (
        PlannedCall(
            "elbv2",
            "ModifyListener",
            {
                "ListenerArn": listener,
                "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "AlpnPolicy": ["HTTP2Only"],
            },
        ),
        PlannedCall(
            "elbv2",
            "AddListenerCertificates",
            {"ListenerArn": listener, "Certificates": [{"CertificateArn": new_cert}]},
        ),
        PlannedCall(
            "elbv2",
            "RemoveListenerCertificates",
            {"ListenerArn": listener, "Certificates": [{"CertificateArn": old_cert}]},
        ),
    )
    seen = PlanOutcome(
        calls=calls,
        security_groups={},
        load_balancers={LB_ARN: {"LoadBalancerArn": LB_ARN, "LoadBalancerName": "k8s-shop-front"}},
        target_groups={},
        listeners={
            listener: {"ListenerArn": listener, "Protocol": "HTTPS", "Port": 443, "LoadBalancerArn": LB_ARN}
        },
    )
    lines = render_human(build_plan(seen), cluster_name="c", vpc_id="v").splitlines()
    for line in (
        "      ssl policy: ELBSecurityPolicy-TLS13-1-2-2021-06",
        "      alpn policy: HTTP2Only",
        f"      + certificate {new_cert}",
        f"      - certificate {old_cert}",
    ):
        assert line in lines, f"{line!r} not in:\n" + "\n".join(lines)


def test_rules_show_weights_header_names_query_pairs_and_redirects() -> None:
    listener = "arn:aws:elasticloadbalancing:r:1:listener/app/k8s-shop-front/abc/l1"
    blue = "arn:aws:elasticloadbalancing:r:1:targetgroup/k8s-shop-blue/t1"
    green = "arn:aws:elasticloadbalancing:r:1:targetgroup/k8s-shop-green/t2"
    weighted = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": blue, "Weight": 40}, {"TargetGroupArn": green, "Weight": 60}]
        },
    }
    conditions = [
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["yes"]}},
        {
            "Field": "query-string",
            "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}, {"Value": "x"}]},
        },
        {"Field": "host-header", "HostHeaderConfig": {"RegexValues": ["^.+$"]}},
    ]
    redirect = {
        "Type": "redirect",
        "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
    }
    calls = (
        PlannedCall(
            "elbv2",
            "CreateRule",
            {"ListenerArn": listener, "Priority": 1, "Conditions": conditions, "Actions": [weighted]},
            "planned-arn:listener-rule/1/1",
        ),
        PlannedCall("elbv2", "ModifyListener", {"ListenerArn": listener, "DefaultActions": [redirect]}),
    )
    seen = PlanOutcome(
        calls=calls,
        security_groups={},
        load_balancers={LB_ARN: {"LoadBalancerArn": LB_ARN, "LoadBalancerName": "k8s-shop-front"}},
        target_groups={
            blue: {"TargetGroupArn": blue, "TargetGroupName": "k8s-shop-blue"},
            green: {"TargetGroupArn": green, "TargetGroupName": "k8s-shop-green"},
        },
        listeners={
            listener: {"ListenerArn": listener, "Protocol": "HTTP", "Port": 80, "LoadBalancerArn": LB_ARN}
        },
        listener_rules={},
    )
    lines = render_human(build_plan(seen), cluster_name="c", vpc_id="v").splitlines()
    for line in (
        "      if http-header X-Canary [yes] and query-string [v=2, x] and host-header [regex ^.+$]",
        "      then forward to k8s-shop-blue (weight 40), k8s-shop-green (weight 60)",
        "      default: redirect to HTTPS:443",
    ):
        assert line in lines, f"{line!r} not in:\n" + "\n".join(lines)
