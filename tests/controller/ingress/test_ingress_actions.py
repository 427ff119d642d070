"""``actions.<name>`` / ``conditions.<name>`` parsing against upstream's test tables and messages
(``enhanced_backend_builder_test.go``, ``config_types.go``)."""

from __future__ import annotations

import pytest

from controller.annotations import InvalidAnnotationError, ObjectRef
from controller.ingress.actions import (
    NON_EXISTENT_ACTION,
    ForwardConfig,
    ServicePortRef,
    TargetConfig,
    action_service_names,
    parse_action,
    parse_conditions,
)
from controller.model import (
    FixedResponseAction,
    QueryStringPair,
    RedirectAction,
    RuleCondition,
    TargetGroupStickiness,
)

REF = ObjectRef("Ingress", "ns-1", "ing-1")
ACTIONS = "alb.ingress.kubernetes.io/actions."
CONDITIONS = "alb.ingress.kubernetes.io/conditions."


def action(name: str, raw: str) -> object:
    return parse_action(REF, {ACTIONS + name: raw}, name)


def conditions(name: str, raw: str) -> tuple[RuleCondition, ...]:
    return parse_conditions(REF, {CONDITIONS + name: raw}, name)


# ------------------------------------------------------------------------------------------ actions


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"service-1","servicePort":"http","weight":20},'
        '{"serviceName":"service-2","servicePort":80,"weight":20},{"targetGroupARN":"tg-arn","weight":60}],'
        '"targetGroupStickinessConfig":{"enabled":true,"durationSeconds":200}}}',
        # upstream's "old camelcase case json key" row: Go matches keys case-insensitively
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"service-1","ServicePort":"http","Weight":20},'
        '{"ServiceName":"service-2","ServicePort":"80","Weight":20},{"TargetGroupArn":"tg-arn","Weight":60}],'
        '"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":200}}}',
    ],
)
def test_forward_advanced_schema(raw: str) -> None:
    assert action("forward-multiple-tg", raw) == ForwardConfig(
        (
            TargetConfig(ServicePortRef("service-1", "http"), None, None, 20),
            TargetConfig(ServicePortRef("service-2", 80), None, None, 20),
            TargetConfig(None, "tg-arn", None, 60),
        ),
        TargetGroupStickiness(True, 200),
    )


def test_forward_simplified_schema_and_string_ports() -> None:
    assert action("forward-single-tg", '{"type":"forward","targetGroupARN": "tg-arn"}') == ForwardConfig(
        (TargetConfig(None, "tg-arn", None, None),), None
    )
    assert action("forward-single-tg", '{"Type":"forward","TargetGroupArn": "tg-arn"}') == ForwardConfig(
        (TargetConfig(None, "tg-arn", None, None),), None
    )
    both = action(
        "forward-multiple-tg",
        '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"service-1","servicePort":"80","weight":40},'
        '{"serviceName":"service-2","servicePort":443,"weight":60}]}}',
    )
    assert isinstance(both, ForwardConfig)
    assert [t.service for t in both.targets] == [
        ServicePortRef("service-1", 80),
        ServicePortRef("service-2", 443),
    ]


def test_redirect_and_fixed_response() -> None:
    redirect = '{"type":"redirect","redirectConfig":{"host":"aws.amazon.com","path":"/eks/","port":"443","protocol":"HTTPS","query":"k=v","statusCode":"HTTP_302"}}'
    expected = RedirectAction("HTTP_302", "HTTPS", "443", "aws.amazon.com", "/eks/", "k=v")
    assert action("redirect-to-eks", redirect) == expected
    camel = '{"Type":"redirect","RedirectConfig":{"Host":"aws.amazon.com","Path":"/eks/","Port":"443","Protocol":"HTTPS","Query":"k=v","StatusCode":"HTTP_302"}}'
    assert action("redirect-to-eks", camel) == expected
    ssl = '{"type":"redirect","redirectConfig":{"port":"443","protocol":"HTTPS","statusCode":"HTTP_301"}}'
    assert action("ssl-redirect", ssl) == RedirectAction("HTTP_301", protocol="HTTPS", port="443")
    fixed = '{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"503","messageBody":"503 error text"}}'
    assert action("response-503", fixed) == FixedResponseAction("503", "text/plain", "503 error text")


def test_missing_action_is_a_503_response_as_upstream_tolerates_it() -> None:
    assert parse_action(REF, {}, "non-exists") == NON_EXISTENT_ACTION
    assert FixedResponseAction("503", "text/plain", "Backend action does not exist") == NON_EXISTENT_ACTION


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"type":"fixed-response"}', "missing FixedResponseConfig"),
        (
            '{"type":"fixed-response","fixedResponseConfig":{}}',
            "invalid FixedResponseConfig: statusCode is required",
        ),
        ('{"type":"redirect"}', "missing RedirectConfig"),
        (
            '{"type":"redirect","redirectConfig":{"port":"443"}}',
            "invalid RedirectConfig: statusCode is required",
        ),
        ('{"type":"forward"}', "missing ForwardConfig or TargetGroupARN/TargetGroupName"),
        (
            '{"type":"forward","targetGroupARN":"a","forwardConfig":{"targetGroups":[]}}',
            "either ForwardConfig or TargetGroupARN/TargetGroupName can be specified",
        ),
        (
            '{"type":"forward","forwardConfig":{"targetGroups":[{"weight":1}]}}',
            "invalid ForwardConfig: invalid TargetGroupTuple: missing serviceName or targetGroupARN/targetGroupName",
        ),
        (
            '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"s","servicePort":80,"targetGroupARN":"a"}]}}',
            "invalid ForwardConfig: invalid TargetGroupTuple: either serviceName or targetGroupARN/targetGroupName can be specified",
        ),
        (
            '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"s"}]}}',
            "invalid ForwardConfig: invalid TargetGroupTuple: missing servicePort",
        ),
        (
            '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80,"weight":1},{"serviceName":"b","servicePort":80}]}}',
            "invalid ForwardConfig: weight must be set when route to multiple target groups",
        ),
        ('{"type":"authenticate-oidc"}', "unknown action type: authenticate-oidc"),
        ('{"type":"forward"', "failed to parse json annotation"),
        ('["forward"]', "failed to parse json annotation: action must be a JSON object"),
        (
            '{"type":"forward","targetGroupARN":7}',
            "failed to parse json annotation: action.targetGroupARN must be a string",
        ),
        (
            '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80,"weight":"1"}]}}',
            "must be an integer",
        ),
    ],
)
def test_invalid_actions_name_ingress_key_value_and_upstream_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidAnnotationError) as caught:
        action("my-action", raw)
    error = caught.value
    assert (error.object_ref, error.key, error.value) == (REF, ACTIONS + "my-action", raw)
    assert message in error.reason
    assert "Ingress ns-1/ing-1" in error.message


def test_action_service_names_for_the_service_index() -> None:
    raw = '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80,"weight":1},{"serviceName":"b","servicePort":"http","weight":2},{"targetGroupARN":"x","weight":3}]}}'
    assert action_service_names({ACTIONS + "w": raw}, "w") == {"a", "b"}
    assert action_service_names({ACTIONS + "w": "{bad"}, "w") == set()
    assert action_service_names({}, "w") == set()


# --------------------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '[{"field":"host-header","hostHeaderConfig":{"values":["anno.example.com"]}}]',
            RuleCondition("host-header", ("anno.example.com",)),
        ),
        (
            '[{"Field":"host-header","HostHeaderConfig":{"Values":["anno.example.com"]}}]',
            RuleCondition("host-header", ("anno.example.com",)),
        ),
        (
            '[{"field":"host-header","hostHeaderConfig":{"regexValues":["^.+\\\\.example\\\\.com$"]}}]',
            RuleCondition("host-header", regex_values=("^.+\\.example\\.com$",)),
        ),
        (
            '[{"field":"path-pattern","pathPatternConfig":{"values":["/anno/path2"]}}]',
            RuleCondition("path-pattern", ("/anno/path2",)),
        ),
        (
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName": "HeaderName", "values":["HeaderValue1", "HeaderValue2"]}}]',
            RuleCondition("http-header", ("HeaderValue1", "HeaderValue2"), http_header_name="HeaderName"),
        ),
        (
            '[{"Field":"http-header","HttpHeaderConfig":{"HttpHeaderName": "HeaderName", "RegexValues":[".+"]}}]',
            RuleCondition("http-header", regex_values=(".+",), http_header_name="HeaderName"),
        ),
        (
            '[{"field":"http-request-method","httpRequestMethodConfig":{"values":["GET", "HEAD"]}}]',
            RuleCondition("http-request-method", ("GET", "HEAD")),
        ),
        (
            '[{"field":"query-string","queryStringConfig":{"values":[{"key":"paramA","value":"valueA1"},{"value":"valueA2"}]}}]',
            RuleCondition(
                "query-string",
                query_strings=(QueryStringPair("paramA", "valueA1"), QueryStringPair(None, "valueA2")),
            ),
        ),
        (
            '[{"field":"source-ip","sourceIpConfig":{"values":["192.168.0.0/16", "172.16.0.0/16"]}}]',
            RuleCondition("source-ip", ("192.168.0.0/16", "172.16.0.0/16")),
        ),
    ],
)
def test_conditions_upstream_rows(raw: str, expected: RuleCondition) -> None:
    assert conditions("rule-path", raw) == (expected,)


def test_several_conditions_keep_their_order_and_unknown_fields_are_ignored() -> None:
    raw = (
        '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName": "HeaderName", "values":["HeaderValue"]}},'
        '{"field":"query-string","queryStringConfig":{"values":[{"key":"paramA","value":"valueA"}]}},'
        '{"field":"cookie"},'
        '{"field":"query-string","queryStringConfig":{"values":[{"key":"paramB","value":"valueB"}]}}]'
    )
    assert [c.field for c in conditions("rule-path7", raw)] == ["http-header", "query-string", "query-string"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '[{"field":"host-header","hostHeaderConfig":{"values":["example.com"],"regexValues":["^example\\\\.com$"]}}]',
            "invalid hostHeaderConfig: precisely one of values and regexValues can be specified",
        ),
        (
            '[{"field":"host-header","hostHeaderConfig":{}}]',
            "invalid hostHeaderConfig: values or regexValues must be specified",
        ),
        (
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"HeaderName","values":["a"],"regexValues":["b"]}}]',
            "invalid httpHeaderConfig: precisely one of values and regexValues can be specified",
        ),
        (
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"HeaderName"}}]',
            "invalid httpHeaderConfig: values or regexValues must be specified",
        ),
        (
            '[{"field":"path-pattern","pathPatternConfig":{"values":["/mypath"],"regexValues":["^/mypath$"]}}]',
            "invalid pathPatternConfig: precisely one of values and regexValues can be specified",
        ),
        (
            '[{"field":"path-pattern","pathPatternConfig":{}}]',
            "invalid pathPatternConfig: values or regexValues must be specified",
        ),
        ('[{"field":"path-pattern"}]', "missing pathPatternConfig"),
        (
            '[{"field":"http-request-method","httpRequestMethodConfig":{"values":[]}}]',
            "invalid httpRequestMethodConfig: values cannot be empty",
        ),
        ('[{"field":"source-ip"}]', "missing sourceIPConfig"),
        ('[{"field":"source-ip","sourceIPConfig":{}}]', "invalid sourceIPConfig: values cannot be empty"),
        (
            '[{"field":"query-string","queryStringConfig":{"values":[]}}]',
            "invalid queryStringConfig: Values cannot be empty",
        ),
        (
            '[{"field":"query-string","queryStringConfig":{"values":[{"key":"k"}]}}]',
            "invalid queryStringConfig: value cannot be empty",
        ),
        ('{"field":"source-ip"}', "failed to parse json annotation: conditions must be a JSON list"),
        ("[{", "failed to parse json annotation"),
    ],
)
def test_invalid_conditions_name_ingress_key_value_and_upstream_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidAnnotationError) as caught:
        conditions("svc-1", raw)
    error = caught.value
    assert (error.object_ref, error.key, error.value) == (REF, CONDITIONS + "svc-1", raw)
    assert message in error.reason
