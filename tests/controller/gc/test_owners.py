"""``live_owners``: which stacks the cluster's objects own, and which rule sources bindings name."""

from __future__ import annotations

from typing import Any

from controller.endpointsg.model import Source, SourceKind
from controller.gc.owners import live_owners, source_of
from controller.naming import INGRESS_TAG_PREFIX, SERVICE_TAG_PREFIX, StackTags
from controller.networking.rules import Ipv4CidrSource, SecurityGroupSource

ALB_CLASS = {"metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}}
NGINX_CLASS = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}


def ingress(
    name: str, class_name: str, *, group: str | None = None, finalizers: tuple[str, ...] = ()
) -> dict[str, Any]:
    annotations = {"alb.ingress.kubernetes.io/group.name": group} if group else {}
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "annotations": annotations,
            "finalizers": list(finalizers),
        },
        "spec": {"ingressClassName": class_name},
    }


def service(name: str, spec: dict[str, Any], *, finalizers: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "finalizers": list(finalizers)}, "spec": spec}


def binding(*peers: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "b"},
        "spec": {"networking": {"ingress": [{"from": list(peers)}]}},
    }


def owners_of(**objects: list[dict[str, Any]]) -> Any:
    return live_owners(
        cluster_name="c",
        ingresses=objects.get("ingresses", []),
        ingress_classes=[ALB_CLASS, NGINX_CLASS],
        services=objects.get("services", []),
        bindings=objects.get("bindings", []),
        ingress_class="alb",
        load_balancer_class="service.k8s.aws/nlb",
    )


def test_ingresses_own_their_group_and_the_groups_their_finalizers_name() -> None:
    owners = owners_of(
        ingresses=[
            ingress("implicit", "alb"),
            ingress("member", "alb", group="team"),
            # Moved to another class but still carrying our finalizer: the controller cleans it up.
            ingress("leaving", "nginx", finalizers=("ingress.k8s.aws/resources",)),
            ingress("other", "nginx"),
        ]
    )
    assert owners.stacks == {
        StackTags("c", INGRESS_TAG_PREFIX, "ns/implicit"),
        StackTags("c", INGRESS_TAG_PREFIX, "team"),
        StackTags("c", INGRESS_TAG_PREFIX, "ns/leaving"),
    }


def test_services_own_their_stack_when_they_want_an_nlb_or_still_carry_our_finalizer() -> None:
    owners = owners_of(
        services=[
            service("nlb", {"type": "LoadBalancer", "loadBalancerClass": "service.k8s.aws/nlb"}),
            service("was-nlb", {"type": "ClusterIP"}, finalizers=("service.k8s.aws/resources",)),
            service("plain", {"type": "ClusterIP"}),
            service("in-tree", {"type": "LoadBalancer"}),
        ]
    )
    assert owners.stacks == {
        StackTags("c", SERVICE_TAG_PREFIX, "ns/nlb"),
        StackTags("c", SERVICE_TAG_PREFIX, "ns/was-nlb"),
    }


def test_bindings_name_their_peers_in_canonical_form_and_bad_peers_name_nothing() -> None:
    owners = owners_of(
        bindings=[
            binding({"securityGroup": {"groupID": "sg-1"}}, {"ipBlock": {"cidr": "10.1.2.3/16"}}),
            binding({"ipBlock": {"cidr": "not-a-cidr"}}, {}),
        ]
    )
    assert owners.rule_sources == {Source.security_group("sg-1"), Source(SourceKind.IPV4_CIDR, "10.1.0.0/16")}
    # A rule AWS reports matches the peer that asked for it.
    assert source_of(Ipv4CidrSource("10.1.0.0/16")) in owners.rule_sources
    assert source_of(SecurityGroupSource("sg-1", "123456789012")) in owners.rule_sources


def test_ingress_class_params_group_is_owned_and_an_unselected_namespace_keeps_the_implicit_group() -> None:
    """The params' ``group.name`` decides the group, as in the controller; an Ingress whose
    Namespace the params' namespaceSelector rejects (or whose params are gone) still owns its
    implicit group and its finalizers' groups."""
    params_class = {
        "metadata": {"name": "alb-params"},
        "spec": {
            "controller": "ingress.k8s.aws/alb",
            "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "p"},
        },
    }
    params = {"metadata": {"name": "p"}, "spec": {"group": {"name": "class-wide"}}}
    selective = {**params, "spec": {**params["spec"], "namespaceSelector": {"matchLabels": {"team": "a"}}}}

    def owners(params_objects: list[dict[str, Any]], labels: dict[str, str]) -> set[str]:
        found = live_owners(
            cluster_name="c",
            ingresses=[ingress("member", "alb-params", finalizers=("group.ingress.k8s.aws/old",))],
            ingress_classes=[params_class],
            ingress_class_params=params_objects,
            namespaces=[{"metadata": {"name": "ns", "labels": labels}}],
            services=[],
            bindings=[],
            ingress_class="alb",
            load_balancer_class="service.k8s.aws/nlb",
        )
        return {stack.stack_id for stack in found.stacks}

    assert owners([params], {}) == {"class-wide", "old"}
    assert owners([selective], {"team": "a"}) == {"class-wide", "old"}
    assert owners([selective], {"team": "b"}) == {"ns/member", "old"}
    assert owners([], {}) == {"ns/member", "old"}
