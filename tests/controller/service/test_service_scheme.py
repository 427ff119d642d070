"""The NLB scheme of a Service: scheme annotation, legacy ``internal`` annotation, the existing NLB,
the default, in that order (upstream ``buildLoadBalancerScheme`` and its fixtures)."""

from __future__ import annotations

import pytest
from service_factories import NLB_IP, build, lb_service, make_config, port

from controller.annotations import SVC_INTERNAL, SVC_SCHEME, InvalidAnnotationError
from controller.model import Scheme
from controller.service import ExistingLoadBalancer

EXTERNAL_INSTANCE = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance",
}


def existing(scheme: Scheme) -> ExistingLoadBalancer:
    return ExistingLoadBalancer(security_group_ids=("sg-managed",), scheme=scheme)


@pytest.mark.parametrize(
    ("annotations", "live", "default", "want"),
    [
        # No annotation: the live NLB's scheme, whatever the default says.
        ({}, Scheme.INTERNET_FACING, "internal", Scheme.INTERNET_FACING),
        ({}, Scheme.INTERNAL, "internet-facing", Scheme.INTERNAL),
        # No annotation and no NLB yet: the controller's default.
        ({}, None, "internal", Scheme.INTERNAL),
        ({}, None, "internet-facing", Scheme.INTERNET_FACING),
        # The scheme annotation wins over everything (changing it replaces the NLB on purpose).
        ({SVC_SCHEME: "internal"}, Scheme.INTERNET_FACING, "internet-facing", Scheme.INTERNAL),
        ({SVC_SCHEME: "internet-facing"}, None, "internal", Scheme.INTERNET_FACING),
        # The legacy boolean, read only without the scheme annotation (Go strconv.ParseBool).
        ({SVC_INTERNAL: "true"}, Scheme.INTERNET_FACING, "internet-facing", Scheme.INTERNAL),
        ({SVC_INTERNAL: "false"}, Scheme.INTERNAL, "internal", Scheme.INTERNET_FACING),
        ({SVC_INTERNAL: "F"}, None, "internal", Scheme.INTERNET_FACING),
        ({SVC_INTERNAL: "1"}, None, "internet-facing", Scheme.INTERNAL),
        ({SVC_SCHEME: "internal", SVC_INTERNAL: "false"}, None, "internet-facing", Scheme.INTERNAL),
        ({SVC_SCHEME: "internet-facing", SVC_INTERNAL: "true"}, None, "internal", Scheme.INTERNET_FACING),
        # The scheme annotation makes an invalid legacy value irrelevant (upstream never parses it).
        ({SVC_SCHEME: "internal", SVC_INTERNAL: "yes"}, None, "internal", Scheme.INTERNAL),
    ],
)
async def test_scheme_precedence(
    annotations: dict[str, str], live: Scheme | None, default: str, want: Scheme
) -> None:
    model = await build(
        lb_service(annotations=annotations),
        config=make_config(default_load_balancer_scheme=default),
        existing=existing(live) if live is not None else None,
    )
    assert model.load_balancer.scheme is want


async def test_existing_internet_facing_nlb_keeps_scheme_and_name_matching_upstream_fixture() -> None:
    # Upstream model_builder_test "...traffic-local": no scheme annotation, the NLB listed by the
    # stack tags is internet-facing → internet-facing, and the name hashed with that scheme.
    svc = lb_service(
        "traffic-local",
        "app",
        uid="2dc098f0-ae33-4378-af7b-83e2a0424495",
        annotations=EXTERNAL_INSTANCE,
        load_balancer_class=None,
        ports=[port(80, node_port=31223), port(83, target=8883, node_port=32323)],
    )
    model = await build(svc, existing=ExistingLoadBalancer((), Scheme.INTERNET_FACING))
    assert model.load_balancer.scheme is Scheme.INTERNET_FACING
    assert model.load_balancer.name == "k8s-app-trafficl-2af705447d"
    assert model.load_balancer.subnets.role_tag_key == "kubernetes.io/role/elb"


async def test_legacy_internal_false_matches_upstream_fixture_name() -> None:
    # Upstream model_builder_test "TLS and access logging annotations": internal=false.
    svc = lb_service(
        "nlb-ip-svc-tls",
        uid="7ab4be33-11c2-4a7b-b655-7add8affab36",
        annotations={**NLB_IP, SVC_INTERNAL: "false"},
        load_balancer_class=None,
        ports=[port(80)],
    )
    model = await build(svc)
    assert model.load_balancer.scheme is Scheme.INTERNET_FACING
    assert model.load_balancer.name == "k8s-default-nlbipsvc-33e41aa671"


@pytest.mark.parametrize(
    ("annotations", "key", "value"),
    [
        ({SVC_SCHEME: "public"}, SVC_SCHEME, "public"),
        ({SVC_INTERNAL: "yes"}, SVC_INTERNAL, "yes"),
        ({SVC_INTERNAL: ""}, SVC_INTERNAL, ""),
    ],
)
async def test_invalid_scheme_annotations_name_key_and_value(
    annotations: dict[str, str], key: str, value: str
) -> None:
    with pytest.raises(InvalidAnnotationError) as raised:
        await build(lb_service(annotations=annotations), existing=existing(Scheme.INTERNAL))
    assert (raised.value.object_ref.key, raised.value.key, raised.value.value) == ("default/svc", key, value)


@pytest.mark.parametrize(
    ("annotations", "live_scheme", "want"),
    [
        # No subnets annotation and the same scheme: the live NLB's subnets, not discovery.
        ({}, Scheme.INTERNAL, ("subnet-a", "subnet-b")),
        # A scheme change replaces the NLB: its new subnets are discovered for the new scheme.
        ({SVC_SCHEME: "internet-facing"}, Scheme.INTERNAL, ()),
        # The annotation always wins.
        (
            {"service.beta.kubernetes.io/aws-load-balancer-subnets": "subnet-c"},
            Scheme.INTERNAL,
            ("subnet-c",),
        ),
    ],
)
async def test_existing_nlb_keeps_its_subnets_while_its_scheme_stays(
    annotations: dict[str, str], live_scheme: Scheme, want: tuple[str, ...]
) -> None:
    live = ExistingLoadBalancer(("sg-managed",), live_scheme, subnet_ids=("subnet-a", "subnet-b"))
    model = await build(lb_service(annotations=annotations), existing=live)
    assert model.load_balancer.subnets.names_or_ids == want
