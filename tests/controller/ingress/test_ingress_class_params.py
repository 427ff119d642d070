"""IngressClassParams: loading (unknown kind, missing, namespaceSelector), every field's precedence over
its annotation with upstream's errors, and which groups a params or Namespace change re-queues."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from ingress_factories import (
    FakeResolver,
    FakeServices,
    StaticClassSource,
    ingress,
    make_config,
    service,
    stack_of,
)

from controller.annotations import (
    ING_CERTIFICATE_ARN,
    ING_GROUP_NAME,
    ING_INBOUND_CIDRS,
    ING_IP_ADDRESS_TYPE,
    ING_LOAD_BALANCER_NAME,
    ING_PREFIX_LISTS,
    ING_SCHEME,
    ING_SUBNETS,
    ING_TAGS,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
)
from controller.finalizers import EXPLICIT_GROUP_FINALIZER_PREFIX
from controller.ingress import IngressClassMatcher, IngressGroupId, IngressModelBuilder, build_group
from controller.ingress.class_matcher import ClassifiedIngress, InvalidIngressClassError
from controller.ingress.class_source import slim_namespace
from controller.ingress.group import group_id_of
from controller.ingress.reconciler import (
    ingress_class_params_event_keys,
    ingress_group_handlers,
    namespace_event_keys,
)
from controller.ingress.settings import (
    ING_LOAD_BALANCER_ATTRIBUTES,
    ExplicitSubnets,
    member_certificate_arns,
    member_listen_ports,
    merge_ip_address_type,
    merge_load_balancer_attributes,
    merge_load_balancer_name,
    merge_scheme,
    merge_subnets,
    merge_tags,
)
from controller.model.load_balancer import IpAddressType, Scheme
from controller.model.stack import StackModel
from framework.informer import Store
from framework.label_selector import InvalidSelectorError, LabelSelector

PARAMS = "params-1"


def params_object(spec: Mapping[str, Any], name: str = PARAMS) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": name},
        "spec": dict(spec),
    }


def alb_class(
    name: str = "alb", params: str | None = PARAMS, kind: str = "IngressClassParams"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"controller": "ingress.k8s.aws/alb"}
    if params is not None:
        spec["parameters"] = {"apiGroup": "elbv2.k8s.aws", "kind": kind, "name": params}
    return {"metadata": {"name": name}, "spec": spec}


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": dict(labels or {})}}


def matcher_for(spec: Mapping[str, Any], namespaces: Iterable[Mapping[str, Any]] = ()) -> IngressClassMatcher:
    return IngressClassMatcher(StaticClassSource([alb_class()], [params_object(spec)], namespaces))


def member(
    spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None, name: str = "ing-1"
) -> ClassifiedIngress:
    """An Ingress of class ``alb`` whose params have ``spec``."""
    classified = matcher_for(spec).classify(ingress(name=name, annotations=annotations, class_name="alb"))
    assert classified is not None
    return classified


def plain(annotations: Mapping[str, str] | None = None, name: str = "ing-2") -> ClassifiedIngress:
    """An Ingress without IngressClassParams (legacy class annotation)."""
    return ClassifiedIngress(
        ingress(name=name, annotations={"kubernetes.io/ingress.class": "alb", **(annotations or {})})
    )


# --------------------------------------------------------------------------------------------------
# Loading the params
# --------------------------------------------------------------------------------------------------


def test_params_are_loaded_from_the_class_reference() -> None:
    classified = matcher_for({"scheme": "internal"}).classify(ingress(class_name="alb"))
    assert classified is not None and classified.params_spec == {"scheme": "internal"}
    assert str(classified.params_ref) == f"IngressClassParams {PARAMS}"
    # A class without parameters: no params, the annotations apply.
    no_params = IngressClassMatcher(StaticClassSource([alb_class(params=None)]))
    classified = no_params.classify(ingress(class_name="alb"))
    assert classified is not None and classified.class_params is None


def test_unknown_parameters_kind_and_missing_params_are_upstreams_errors() -> None:
    unknown = IngressClassMatcher(StaticClassSource([alb_class(kind="ConfigMap")]))
    with pytest.raises(InvalidIngressClassError) as raised:
        unknown.classify(ingress(class_name="alb"))
    assert str(raised.value) == "invalid ingress class: IngressClass alb references unknown parameters"
    assert [str(ref) for ref in raised.value.objects] == ["Ingress ns-1/ing-1"]

    missing = IngressClassMatcher(StaticClassSource([alb_class(params="gone")]))
    with pytest.raises(InvalidIngressClassError) as raised:
        missing.classify(ingress(class_name="alb"))
    assert str(raised.value) == 'invalid ingress class: ingressclassparams.elbv2.k8s.aws "gone" not found'


def test_namespace_selector_admits_matching_namespaces_only() -> None:
    spec = {"namespaceSelector": {"matchLabels": {"team": "a"}}}
    namespaces = [namespace("ns-1", {"team": "a"}), namespace("ns-2", {"team": "b"})]
    matcher = matcher_for(spec, namespaces)
    assert matcher.classify(ingress(namespace="ns-1", class_name="alb")) is not None
    with pytest.raises(InvalidIngressClassError) as raised:
        matcher.classify(ingress(namespace="ns-2", class_name="alb"))
    # Upstream's text first, then the Ingress, the Namespace's labels and the selector.
    assert str(raised.value) == (
        f"invalid ingress class: namespaceSelector of IngressClassParams {PARAMS} mismatch "
        "(Ingress ns-2/ing-1: Namespace ns-2 labels team=b do not match namespaceSelector team=a)"
    )
    # The legacy class annotation never loads params, so no selector applies.
    assert matcher.classify(ingress(namespace="ns-2", annotations={"kubernetes.io/ingress.class": "alb"}))


def test_empty_namespace_selector_selects_every_namespace_and_an_unknown_namespace_is_an_error() -> None:
    matcher = matcher_for({"namespaceSelector": {}}, [namespace("ns-1")])
    assert matcher.classify(ingress(class_name="alb")) is not None
    with pytest.raises(InvalidIngressClassError, match='namespaces "elsewhere" not found'):
        matcher.classify(ingress(namespace="elsewhere", class_name="alb"))
    # Without a selector the Namespace is never looked at.
    assert matcher_for({}).classify(ingress(namespace="elsewhere", class_name="alb")) is not None


@pytest.mark.parametrize(
    ("expressions", "labels", "matches"),
    [
        ([{"key": "env", "operator": "In", "values": ["prod", "stage"]}], {"env": "prod"}, True),
        ([{"key": "env", "operator": "In", "values": ["prod"]}], {}, False),
        ([{"key": "env", "operator": "NotIn", "values": ["dev"]}], {}, True),
        ([{"key": "env", "operator": "NotIn", "values": ["dev"]}], {"env": "dev"}, False),
        ([{"key": "env", "operator": "Exists"}], {"env": ""}, True),
        ([{"key": "env", "operator": "Exists"}], {}, False),
        ([{"key": "legacy", "operator": "DoesNotExist"}], {"legacy": "1"}, False),
        ([{"key": "legacy", "operator": "DoesNotExist"}], {}, True),
    ],
)
def test_namespace_selector_expressions(
    expressions: list[dict[str, Any]], labels: dict[str, str], matches: bool
) -> None:
    assert LabelSelector.parse({"matchExpressions": expressions}).matches(labels) is matches


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            {"key": "a", "operator": "Equals", "values": ["x"]},
            '"Equals" is not a valid label selector operator',
        ),
        (
            {"key": "a", "operator": "In", "values": []},
            "for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"key": "a", "operator": "Exists", "values": ["x"]},
            "values set must be empty for exists and does not exist",
        ),
    ],
)
def test_invalid_namespace_selector_is_apimachinerys_error(expression: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSelectorError) as raised:
        LabelSelector.parse({"matchExpressions": [expression]})
    assert str(raised.value) == message
    matcher = matcher_for({"namespaceSelector": {"matchExpressions": [expression]}}, [namespace("ns-1")])
    with pytest.raises(InvalidIngressClassError, match="invalid ingress class: "):
        matcher.classify(ingress(class_name="alb"))


def test_selector_is_shown_as_kubernetes_prints_it() -> None:
    selector = LabelSelector.parse(
        {
            "matchLabels": {"team": "a"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["stage", "prod"]},
                {"key": "tier", "operator": "NotIn", "values": ["x"]},
                {"key": "owner", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert str(selector) == "team=a,env in (prod,stage),tier notin (x),owner,!legacy"


def test_an_invalid_class_fails_the_group_whose_finalizer_the_ingress_holds() -> None:
    """Upstream issue 2731: a member whose class breaks must not silently leave its group."""
    matcher = matcher_for(
        {"namespaceSelector": {"matchLabels": {"team": "a"}}}, [namespace("ns-1", {"team": "b"})]
    )
    explicit = IngressGroupId.explicit("shared")
    holder = ingress(class_name="alb", finalizers=[EXPLICIT_GROUP_FINALIZER_PREFIX + "shared"])
    with pytest.raises(InvalidIngressClassError):
        build_group(explicit, [holder], matcher)
    # Without the finalizer it was never part of that group: skipped there, an error in its own.
    newcomer = ingress(class_name="alb")
    assert build_group(explicit, [newcomer], matcher).members == ()
    with pytest.raises(InvalidIngressClassError):
        build_group(IngressGroupId.implicit("ns-1", "ing-1"), [newcomer], matcher)


def test_slim_namespace_keeps_identity_and_labels() -> None:
    full = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "a",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"x": "1"},
            "annotations": {"big": "y"},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    slim = slim_namespace(full)
    assert slim == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "a", "uid": "u", "resourceVersion": "7", "labels": {"x": "1"}},
    }
    assert slim_namespace(slim) == slim


# --------------------------------------------------------------------------------------------------
# Field precedence (params over the member's own annotation) and errors
# --------------------------------------------------------------------------------------------------


def test_scheme_and_ip_address_type_from_params_win() -> None:
    members = [
        member(
            {"scheme": "internet-facing", "ipAddressType": "dualstack"},
            {ING_SCHEME: "internal", ING_IP_ADDRESS_TYPE: "ipv4"},
        )
    ]
    assert merge_scheme(members, Scheme.INTERNAL) is Scheme.INTERNET_FACING
    assert merge_ip_address_type(members) is IpAddressType.DUALSTACK
    # A member on params and another on a different annotation value conflict, as upstream.
    with pytest.raises(ConflictingGroupSettingError, match="conflicting scheme"):
        merge_scheme([*members, plain({ING_SCHEME: "internal"})], Scheme.INTERNAL)
    with pytest.raises(InvalidAnnotationError) as raised:
        merge_scheme([member({"scheme": "public"})], Scheme.INTERNAL)
    assert (str(raised.value.object_ref), raised.value.key) == (f"IngressClassParams {PARAMS}", "spec.scheme")
    assert "unknown scheme" in raised.value.reason
    with pytest.raises(InvalidAnnotationError, match="unknown IPAddressType"):
        merge_ip_address_type([member({"ipAddressType": "ipv5"})])


def test_group_name_from_params_wins_and_is_validated() -> None:
    assert group_id_of(member({"group": {"name": "from-params"}}, {ING_GROUP_NAME: "from-annotation"})) == (
        IngressGroupId.explicit("from-params")
    )
    assert group_id_of(member({}, {ING_GROUP_NAME: "from-annotation"})) == IngressGroupId.explicit(
        "from-annotation"
    )
    with pytest.raises(InvalidAnnotationError) as raised:
        group_id_of(member({"group": {"name": "Bad_Name"}}))
    assert raised.value.key == "spec.group.name"
    assert raised.value.reason.startswith("groupName must consist of lower case alphanumeric characters")


def test_inbound_cidrs_and_prefix_lists_from_params_win() -> None:
    annotations = {ING_INBOUND_CIDRS: "10.2.0.0/16", ING_PREFIX_LISTS: "pl-annotation"}
    (spec,) = member_listen_ports(
        member({"inboundCIDRs": ["10.1.0.0/16"], "prefixListsIDs": ["pl-new"]}, annotations)
    ).values()
    assert (spec.cidrs.ipv4, spec.prefix_lists) == (("10.1.0.0/16",), ("pl-new",))
    # The legacy spelling PrefixListsIDs is read too.
    (legacy,) = member_listen_ports(member({"PrefixListsIDs": ["pl-legacy"]}, annotations)).values()
    assert (legacy.cidrs.ipv4, legacy.prefix_lists) == (("10.2.0.0/16",), ("pl-legacy",))
    with pytest.raises(InvalidAnnotationError) as raised:
        member_listen_ports(member({"inboundCIDRs": ["10.0.0.0/33"]}))
    assert (str(raised.value.object_ref), raised.value.key) == (
        f"IngressClassParams {PARAMS}",
        "spec.inboundCIDRs",
    )


def test_certificate_arns_from_params_win_and_make_the_default_port_https() -> None:
    arn = "arn:aws:acm:us-west-2:123456789012:certificate/params"
    with_params = member(
        {"certificateArn": [arn]}, {ING_CERTIFICATE_ARN: "arn:aws:acm:us-west-2:1:certificate/ann"}
    )
    assert member_certificate_arns(with_params) == (arn,)
    assert {port: spec.protocol for port, spec in member_listen_ports(with_params).items()} == {443: "HTTPS"}


def test_subnets_from_params_ids_or_tags_win_and_conflicts_are_upstreams() -> None:
    ids = member({"subnets": {"ids": ["subnet-0a", "subnet-0b"]}}, {ING_SUBNETS: "subnet-0c"})
    assert merge_subnets([ids]) == ExplicitSubnets(names_or_ids=("subnet-0a", "subnet-0b"))
    tags = member({"subnets": {"tags": {"tier": ["blue", "green"], "env": ["prod"]}}})
    assert merge_subnets([tags]) == ExplicitSubnets(
        tag_filters=(("env", ("prod",)), ("tier", ("blue", "green")))
    )
    assert merge_subnets([member({"subnets": {}})]) == ExplicitSubnets(tag_filters=())
    assert merge_subnets([plain({ING_SUBNETS: "b, a"}), plain({ING_SUBNETS: "a,b"}, name="ing-3")]) == (
        ExplicitSubnets(names_or_ids=("b", "a"))
    )
    assert merge_subnets([plain()]) == ExplicitSubnets()
    with pytest.raises(ConflictingGroupSettingError) as versus:
        merge_subnets([ids, plain({ING_SUBNETS: "subnet-0c"})])
    assert str(versus.value).startswith(
        "conflicting subnet specifications: IngressClassParams versus annotation"
    )
    other = ClassifiedIngress(
        ingress(name="ing-3", class_name="alb"),
        params_object({"subnets": {"ids": ["subnet-0b", "subnet-0a"]}}, "p2"),
    )
    with pytest.raises(
        ConflictingGroupSettingError, match="conflicting IngressClassParams subnet specifications"
    ):
        merge_subnets([ids, other])


def test_tags_from_params_win_over_the_annotation_and_are_checked() -> None:
    tagged = member({"tags": [{"key": "team", "value": "params"}]}, {ING_TAGS: "team=annotation,cost=1"})
    assert merge_tags([tagged], ()) == {"team": "params", "cost": "1"}
    with pytest.raises(InvalidAnnotationError) as raised:
        merge_tags([member({"tags": [{"key": "owner", "value": "x"}]})], ["owner"])
    assert (str(raised.value.object_ref), raised.value.key, raised.value.reason) == (
        f"IngressClassParams {PARAMS}",
        "spec.tags",
        "external managed tag key owner cannot be specified",
    )
    with pytest.raises(InvalidAnnotationError, match=r"spec\.tags"):
        merge_tags([member({"tags": [{"key": "aws:reserved", "value": "x"}]})], ())


def test_load_balancer_attributes_from_params_win_and_resolve_conflicts() -> None:
    params = {"loadBalancerAttributes": [{"key": "idle_timeout.timeout_seconds", "value": "120"}]}
    first = member(
        params,
        {ING_LOAD_BALANCER_ATTRIBUTES: "idle_timeout.timeout_seconds=60,deletion_protection.enabled=true"},
    )
    second = member(params, {ING_LOAD_BALANCER_ATTRIBUTES: "idle_timeout.timeout_seconds=30"}, name="ing-3")
    assert merge_load_balancer_attributes([first, second]) == {
        "idle_timeout.timeout_seconds": "120",
        "deletion_protection.enabled": "true",
    }
    with pytest.raises(
        ConflictingGroupSettingError,
        match=r"conflicting load balancer attributes deletion_protection\.enabled",
    ):
        merge_load_balancer_attributes(
            [
                first,
                member(
                    params, {ING_LOAD_BALANCER_ATTRIBUTES: "deletion_protection.enabled=false"}, name="ing-3"
                ),
            ]
        )
    assert merge_load_balancer_attributes([]) == {}


def test_load_balancer_name_from_params_wins_and_is_limited() -> None:
    assert merge_load_balancer_name(
        [member({"loadBalancerName": "from-params"}, {ING_LOAD_BALANCER_NAME: "ann"})]
    ) == ("from-params")
    with pytest.raises(InvalidAnnotationError) as raised:
        merge_load_balancer_name([member({"loadBalancerName": "x" * 33})])
    assert (raised.value.key, raised.value.reason) == (
        "spec.loadBalancerName",
        "load balancer name cannot be longer than 32 characters",
    )
    with pytest.raises(ConflictingGroupSettingError, match="conflicting load balancer name"):
        merge_load_balancer_name([member({"loadBalancerName": "a"}), plain({ING_LOAD_BALANCER_NAME: "b"})])


async def test_the_model_carries_params_name_subnet_tags_and_scheme() -> None:
    spec = {
        "loadBalancerName": "class-wide",
        "scheme": "internal",
        "subnets": {"tags": {"tier": ["blue"]}},
        "group": {"name": "class-group"},
    }
    group_member = member(spec, {ING_SCHEME: "internet-facing", ING_LOAD_BALANCER_NAME: "mine"})
    matcher = matcher_for(spec)
    group = build_group(IngressGroupId.explicit("class-group"), [group_member.ingress], matcher)
    model = await IngressModelBuilder(make_config(), FakeResolver(), FakeServices([service()])).build(
        group, stack_of(group)
    )
    assert isinstance(model, StackModel)
    load_balancer = model.load_balancer
    assert (load_balancer.name, load_balancer.scheme) == ("class-wide", Scheme.INTERNAL)
    assert load_balancer.subnets.tag_filters == (("tier", ("blue",)),)
    assert load_balancer.subnets.role_tag_key == "kubernetes.io/role/internal-elb"


# --------------------------------------------------------------------------------------------------
# Which groups a change re-queues
# --------------------------------------------------------------------------------------------------


def _world() -> tuple[StaticClassSource, list[dict[str, Any]]]:
    sources = StaticClassSource(
        [alb_class("alb"), alb_class("alb-b", params="other"), alb_class("alb-c", params=None)],
        [params_object({"group": {"name": "team"}}), params_object({}, "other")],
        [namespace("ns-1", {"team": "a"}), namespace("ns-2")],
    )
    ingresses = [
        ingress("one", "ns-1", class_name="alb"),
        ingress("two", "ns-2", class_name="alb"),
        ingress("three", "ns-1", class_name="alb-b"),
        ingress("four", "ns-2", class_name="alb-c"),
    ]
    return sources, ingresses


def test_params_change_queues_the_groups_of_every_class_using_it() -> None:
    sources, ingresses = _world()
    matcher = IngressClassMatcher(sources)
    changed = params_object({"group": {"name": "team"}})
    assert ingress_class_params_event_keys(changed, sources.classes.values(), ingresses, matcher) == {"team"}
    other = params_object({}, "other")
    assert ingress_class_params_event_keys(other, sources.classes.values(), ingresses, matcher) == {
        "ns-1/three"
    }
    unused = params_object({}, "unused")
    assert ingress_class_params_event_keys(unused, sources.classes.values(), ingresses, matcher) == set()


def test_namespace_change_queues_its_ingresses_groups() -> None:
    sources, ingresses = _world()
    matcher = IngressClassMatcher(sources)
    in_ns_2 = [i for i in ingresses if i["metadata"]["namespace"] == "ns-2"]
    assert namespace_event_keys(in_ns_2, matcher) == {"team", "ns-2/four"}


def test_handlers_queue_on_params_spec_changes_and_namespace_label_changes() -> None:
    sources, ingresses = _world()
    matcher = IngressClassMatcher(sources)
    ingress_store, class_store = Store(), Store()
    for obj in ingresses:
        ingress_store.upsert(obj)
    for obj in sources.classes.values():
        class_store.upsert(obj)
    queued: list[str] = []
    handlers = ingress_group_handlers(queued.append, matcher, ingress_store, class_store)

    params = params_object({"group": {"name": "team"}})
    handlers.ingress_class_params.on_add(params, False)
    assert queued == ["team"]
    queued.clear()
    # Metadata-only updates (labels, resourceVersion) change nothing upstream reads.
    relabelled = {**params, "metadata": {"name": PARAMS, "labels": {"x": "y"}}}
    handlers.ingress_class_params.on_update(params, relabelled)
    assert queued == []
    handlers.ingress_class_params.on_update(
        params, params_object({"group": {"name": "team"}, "scheme": "internal"})
    )
    assert queued == ["team"]
    queued.clear()
    handlers.ingress_class_params.on_delete(params)
    assert queued == ["team"]
    queued.clear()

    ns_1 = namespace("ns-1", {"team": "a"})
    handlers.namespace.on_update(ns_1, {**ns_1, "metadata": {**ns_1["metadata"], "annotations": {"a": "b"}}})
    assert queued == []
    handlers.namespace.on_update(ns_1, namespace("ns-1", {"team": "b"}))
    assert queued == ["ns-1/three", "team"]
