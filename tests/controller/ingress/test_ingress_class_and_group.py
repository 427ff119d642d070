"""Ingress class matching and group membership."""

from __future__ import annotations

from typing import Any

import pytest
from ingress_factories import FakeResolver, FakeServices, StaticClassSource, ingress, make_config, stack_of

from controller.annotations import ING_GROUP_NAME, ING_GROUP_ORDER, InvalidAnnotationError
from controller.ingress import (
    IngressClassMatcher,
    IngressGroupId,
    IngressModelBuilder,
    build_group,
    group_ids_for_ingress,
)
from controller.ingress.class_matcher import InvalidIngressClassError
from controller.ingress.group import validate_group_name
from controller.networking.rules import Ipv4CidrSource


def ingress_class(
    name: str, controller: str = "ingress.k8s.aws/alb", default: bool = False, params: str | None = None
) -> dict[str, Any]:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    spec: dict[str, Any] = {"controller": controller}
    if params:
        spec["parameters"] = {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": params}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


def legacy(value: str) -> dict[str, str]:
    return {"kubernetes.io/ingress.class": value}


def test_legacy_class_annotation_decides_alone() -> None:
    matcher = IngressClassMatcher(StaticClassSource([ingress_class("nginx", "k8s.io/nginx")]), "alb")
    assert matcher.classify(ingress(annotations=legacy("alb"))) is not None
    assert matcher.classify(ingress(annotations=legacy("nginx"))) is None
    # The annotation wins over spec.ingressClassName, as upstream.
    assert matcher.classify(ingress(annotations=legacy("alb"), class_name="nginx")) is not None
    custom = IngressClassMatcher(StaticClassSource(), "internal-alb")
    assert custom.classify(ingress(annotations=legacy("internal-alb"))) is not None
    assert custom.classify(ingress(annotations=legacy("alb"))) is None


def test_ingress_class_name_must_name_an_alb_class() -> None:
    classes = StaticClassSource([ingress_class("alb"), ingress_class("nginx", "k8s.io/nginx")])
    matcher = IngressClassMatcher(classes)
    assert matcher.classify(ingress(class_name="alb")) is not None
    assert matcher.classify(ingress(class_name="nginx")) is None
    assert matcher.classify(ingress(class_name="missing")) is None


def test_default_ingress_class_applies_without_any_class() -> None:
    assert (
        IngressClassMatcher(StaticClassSource([ingress_class("alb", default=True)])).classify(ingress())
        is not None
    )
    assert IngressClassMatcher(StaticClassSource([ingress_class("alb")])).classify(ingress()) is None
    other_default = StaticClassSource(
        [ingress_class("nginx", "k8s.io/nginx", default=True), ingress_class("alb")]
    )
    assert IngressClassMatcher(other_default).classify(ingress()) is None


def test_ingress_class_params_are_loaded_and_missing_params_is_an_error() -> None:
    params = {"metadata": {"name": "p"}, "spec": {"scheme": "internet-facing"}}
    matcher = IngressClassMatcher(StaticClassSource([ingress_class("alb", params="p")], [params]))
    classified = matcher.classify(ingress(class_name="alb"))
    assert classified is not None and classified.params_spec == {"scheme": "internet-facing"}
    broken = IngressClassMatcher(StaticClassSource([ingress_class("alb", params="gone")]))
    with pytest.raises(
        InvalidIngressClassError, match=r'ingressclassparams\.elbv2\.k8s\.aws "gone" not found'
    ):
        broken.classify(ingress(class_name="alb"))


async def test_ingress_class_params_override_annotations() -> None:
    params = {
        "metadata": {"name": "p"},
        "spec": {
            "scheme": "internet-facing",
            "inboundCIDRs": ["10.1.0.0/16"],
            "tags": [{"key": "team", "value": "params"}],
            "group": {"name": "from-params"},
        },
    }
    matcher = IngressClassMatcher(StaticClassSource([ingress_class("alb", params="p")], [params]))
    member = ingress(class_name="alb", annotations={"alb.ingress.kubernetes.io/inbound-cidrs": "10.2.0.0/16"})
    group = build_group(IngressGroupId.explicit("from-params"), [member], matcher)
    assert len(group.members) == 1
    builder = IngressModelBuilder(make_config(), FakeResolver(), FakeServices([_svc()]))
    model = await builder.build(group, stack_of(group))
    assert model is not None
    assert model.load_balancer.scheme.value == "internet-facing"
    assert model.managed_sg is not None
    assert {rule.source for rule in model.managed_sg.ingress} == {Ipv4CidrSource("10.1.0.0/16")}
    assert model.tags["team"] == "params"


def test_invalid_cidr_in_ingress_class_params_names_the_params() -> None:
    params = {"metadata": {"name": "p"}, "spec": {"inboundCIDRs": ["nope"]}}
    matcher = IngressClassMatcher(StaticClassSource([ingress_class("alb", params="p")], [params]))
    member = matcher.classify(ingress(class_name="alb"))
    assert member is not None
    from controller.ingress.settings import member_listen_ports

    with pytest.raises(InvalidAnnotationError) as caught:
        member_listen_ports(member)
    assert str(caught.value.object_ref) == "IngressClassParams p"
    assert caught.value.key == "spec.inboundCIDRs"


def _svc() -> dict[str, Any]:
    from ingress_factories import service

    return service()


MATCH_ALL = IngressClassMatcher(StaticClassSource([ingress_class("alb", default=True)]))


def test_explicit_group_members_sorted_by_order_then_name() -> None:
    def member(name: str, namespace: str, order: str | None) -> dict[str, Any]:
        annotations = {ING_GROUP_NAME: "g"}
        if order is not None:
            annotations[ING_GROUP_ORDER] = order
        return ingress(name, namespace, annotations=annotations)

    ingresses = [
        member("z", "a", None),
        member("y", "b", "-10"),
        member("x", "a", "5"),
        member("a", "a", None),
        ingress("other", "a"),
    ]
    group = build_group(IngressGroupId.explicit("g"), ingresses, MATCH_ALL)
    assert [m.ref.key for m in group.members] == ["b/y", "a/a", "a/z", "a/x"]
    assert group.inactive_members == ()


@pytest.mark.parametrize("order", ["1001", "-1001", "one", "1.5", ""])
def test_group_order_out_of_range_is_an_error(order: str) -> None:
    bad = ingress("bad", annotations={ING_GROUP_NAME: "g", ING_GROUP_ORDER: order})
    with pytest.raises(InvalidAnnotationError) as caught:
        build_group(IngressGroupId.explicit("g"), [bad], MATCH_ALL)
    assert caught.value.key == ING_GROUP_ORDER


PATTERN_ERROR = (
    "groupName must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
LENGTH_ERROR = "groupName must be no more than 63 characters"


@pytest.mark.parametrize(
    ("group_name", "error"),
    [
        # Upstream group_loader_test Test_validateGroupName, case for case.
        ("group", None),
        ("42", None),
        ("m00nf1sh", None),
        ("group-m00nf1sh", None),
        ("GROUP", PATTERN_ERROR),
        ("aaaa-.cc-c.c", None),
        ("-abcdef", PATTERN_ERROR),
        ("a" * 63, None),
        ("a" * 64, LENGTH_ERROR),
        # Same pattern, edge cases: one character, dots anywhere inside, the ends, a trailing
        # newline (Go's "$" does not accept it), and the pattern checked before the length.
        ("a", None),
        ("a..b", None),
        ("a.-.b", None),
        ("abc.", PATTERN_ERROR),
        ("abc-", PATTERN_ERROR),
        (".abc", PATTERN_ERROR),
        ("", PATTERN_ERROR),
        ("group\n", PATTERN_ERROR),
        ("awesome-group$", PATTERN_ERROR),
        ("A" * 64, PATTERN_ERROR),
    ],
)
def test_group_name_validation_matches_upstream_table(group_name: str, error: str | None) -> None:
    assert validate_group_name(group_name) == error
    member = ingress("ing", annotations={ING_GROUP_NAME: group_name})
    if error is None:
        assert build_group(IngressGroupId.explicit(group_name), [member], MATCH_ALL).member_refs
        return
    with pytest.raises(InvalidAnnotationError) as caught:
        build_group(IngressGroupId.implicit("ns-1", "ing"), [member], MATCH_ALL)
    assert (caught.value.key, caught.value.value, caught.value.reason) == (ING_GROUP_NAME, group_name, error)


def test_invalid_group_name_fails_only_its_own_implicit_group() -> None:
    bad = ingress("bad", annotations={ING_GROUP_NAME: "Not_Valid"})
    with pytest.raises(InvalidAnnotationError):
        build_group(IngressGroupId.implicit("ns-1", "bad"), [bad], MATCH_ALL)
    group = build_group(
        IngressGroupId.explicit("g"), [bad, ingress("ok", annotations={ING_GROUP_NAME: "g"})], MATCH_ALL
    )
    assert [m.ref.name for m in group.members] == ["ok"]


def test_deleting_and_departed_members_are_inactive() -> None:
    finalizer = "group.ingress.k8s.aws/g"
    deleting = ingress("d", annotations={ING_GROUP_NAME: "g"}, finalizers=[finalizer], deleting=True)
    moved = ingress("m", annotations={ING_GROUP_NAME: "other"}, finalizers=[finalizer])
    not_ours = ingress(
        "n", annotations={ING_GROUP_NAME: "g", "kubernetes.io/ingress.class": "nginx"}, finalizers=[finalizer]
    )
    active = ingress("a", annotations={ING_GROUP_NAME: "g"}, finalizers=[finalizer])
    group = build_group(IngressGroupId.explicit("g"), [deleting, moved, not_ours, active], MATCH_ALL)
    assert [m.ref.name for m in group.members] == ["a"]
    assert sorted(i["metadata"]["name"] for i in group.inactive_members) == ["d", "m", "n"]


async def test_group_with_only_inactive_members_builds_no_stack() -> None:
    deleting = ingress("d", finalizers=["ingress.k8s.aws/resources"], deleting=True)
    group = build_group(IngressGroupId.implicit("ns-1", "d"), [deleting], MATCH_ALL)
    assert group.members == ()
    assert len(group.inactive_members) == 1
    builder = IngressModelBuilder(make_config(), FakeResolver(), FakeServices())
    assert await builder.build(group, stack_of(group)) is None


def test_group_ids_for_ingress_include_finalizer_groups() -> None:
    moved = ingress("m", "ns", annotations={ING_GROUP_NAME: "new"}, finalizers=["group.ingress.k8s.aws/old"])
    assert group_ids_for_ingress(moved, MATCH_ALL) == {
        IngressGroupId.explicit("new"),
        IngressGroupId.explicit("old"),
    }
    implicit = ingress("i", "ns", finalizers=["ingress.k8s.aws/resources"])
    assert group_ids_for_ingress(implicit, MATCH_ALL) == {IngressGroupId.implicit("ns", "i")}
    assert IngressGroupId.explicit("g").finalizer == "group.ingress.k8s.aws/g"
    assert IngressGroupId.implicit("ns", "i").finalizer == "ingress.k8s.aws/resources"
    assert str(IngressGroupId.implicit("ns", "i")) == "ns/i"
