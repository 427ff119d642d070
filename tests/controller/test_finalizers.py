"""The finalizer strings are upstream's: objects left by an upstream installation must be recognised."""

from __future__ import annotations

from controller.finalizers import (
    EXPLICIT_GROUP_FINALIZER_PREFIX,
    IMPLICIT_GROUP_FINALIZER,
    SERVICE_FINALIZER,
    TGB_FINALIZER,
    is_ingress_finalizer,
)


def test_finalizer_strings_match_upstream() -> None:
    assert IMPLICIT_GROUP_FINALIZER == "ingress.k8s.aws/resources"
    assert EXPLICIT_GROUP_FINALIZER_PREFIX == "group.ingress.k8s.aws/"
    assert SERVICE_FINALIZER == "service.k8s.aws/resources"
    assert TGB_FINALIZER == "elbv2.k8s.aws/resources"


def test_ingress_finalizers_are_the_implicit_one_and_any_explicit_group() -> None:
    assert is_ingress_finalizer("ingress.k8s.aws/resources")
    assert is_ingress_finalizer("group.ingress.k8s.aws/shared")
    assert not is_ingress_finalizer("service.k8s.aws/resources")
    assert not is_ingress_finalizer("elbv2.k8s.aws/resources")
