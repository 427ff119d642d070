"""Names, tags and labels must match upstream byte for byte (upstream-behaviour §1.2, §1.4, §3.2, §4.4)."""

from __future__ import annotations

import pytest

from controller import naming


def test_implicit_ingress_sg_name_matches_upstream_fixture() -> None:
    assert (
        naming.managed_sg_name_for_implicit_ingress("cluster-dummy", "ns-1", "ing-1")
        == "k8s-ns1-ing1-bd83176788"
    )


def test_implicit_ingress_sg_name_truncates_sanitised_parts_to_eight() -> None:
    name = naming.managed_sg_name_for_implicit_ingress("my-cluster", "default", "echo-server")
    assert name == "k8s-default-echoserv-dab668ddb1"


def test_service_sg_name_matches_upstream_fixture() -> None:
    name = naming.managed_sg_name_for_service(
        "my-cluster", "app", "tcpudp-protocol", "2dc098f0-ae33-4378-af7b-83e2a0424495"
    )
    assert name == "k8s-app-tcpudppr-06a9156bf8"


def test_recreated_service_gets_a_new_sg_name() -> None:
    first = naming.managed_sg_name_for_service("my-cluster", "app", "web", "uid-1")
    second = naming.managed_sg_name_for_service("my-cluster", "app", "web", "uid-2")
    assert first != second
    assert first[:-10] == second[:-10]


def test_gateway_sg_name_uses_the_service_formula() -> None:
    assert naming.managed_sg_name_for_gateway("c", "ns", "gw", "u") == naming.managed_sg_name_for_service(
        "c", "ns", "gw", "u"
    )


def test_explicit_group_sg_name_keeps_seventeen_sanitised_characters() -> None:
    assert naming.managed_sg_name_for_explicit_group("my-cluster", "my-shared-group.prod") == (
        "k8s-mysharedgroupprod-eb5b868a68"
    )


def test_managed_sg_names_fit_in_32_characters() -> None:
    long = "a-very-long-name-with-many-characters"
    assert len(naming.managed_sg_name_for_implicit_ingress("c", long, long)) == 32
    assert len(naming.managed_sg_name_for_explicit_group("c", long)) == 32


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        ("testCluster", "k8s-traffic-testCluster-411a1bcdb1"),
        ("my-cluster", "k8s-traffic-mycluster-4cbfcec96c"),
    ],
)
def test_backend_sg_name(cluster: str, expected: str) -> None:
    assert naming.backend_sg_name(cluster) == expected


def test_backend_sg_name_hashes_the_raw_cluster_name() -> None:
    # Same sanitised text, different raw names: the visible part matches, the hash does not.
    assert naming.backend_sg_name("my-cluster")[:-10] == naming.backend_sg_name("my.cluster")[:-10]
    assert naming.backend_sg_name("my-cluster") != naming.backend_sg_name("my.cluster")


def test_backend_sg_name_caps_the_cluster_part_at_232_characters() -> None:
    name = naming.backend_sg_name("x" * 300)
    assert len(name) == len("k8s-traffic-") + 232 + 1 + 10 == 255


def test_descriptions() -> None:
    assert naming.MANAGED_SG_DESCRIPTION == "[k8s] Managed SecurityGroup for LoadBalancer"
    assert naming.BACKEND_SG_DESCRIPTION == "[k8s] Shared Backend SecurityGroup for LoadBalancer"


def test_implicit_ingress_stack_tags() -> None:
    stack = naming.StackTags(
        "my-cluster", naming.INGRESS_TAG_PREFIX, naming.stack_id_for_implicit_ingress("default", "web")
    )
    assert stack.resource_tags(naming.MANAGED_SG_RESOURCE_ID) == {
        "elbv2.k8s.aws/cluster": "my-cluster",
        "ingress.k8s.aws/stack": "default/web",
        "ingress.k8s.aws/resource": "ManagedLBSecurityGroup",
    }
    assert stack.legacy_tracking_tags() == {
        "ingress.k8s.aws/cluster": "my-cluster",
        "ingress.k8s.aws/stack": "default/web",
    }


def test_explicit_group_and_service_stack_ids() -> None:
    assert naming.stack_id_for_explicit_group("shared") == "shared"
    assert naming.StackTags(
        "c", naming.SERVICE_TAG_PREFIX, naming.stack_id_for_service("ns", "svc")
    ).tracking_tags() == {
        "elbv2.k8s.aws/cluster": "c",
        "service.k8s.aws/stack": "ns/svc",
    }


def test_backend_sg_tags() -> None:
    assert naming.backend_sg_tags("my-cluster") == {
        "elbv2.k8s.aws/cluster": "my-cluster",
        "elbv2.k8s.aws/resource": "backend-sg",
    }


def test_tracking_keys_cover_every_stack_prefix() -> None:
    assert {
        "elbv2.k8s.aws/cluster",
        "elbv2.k8s.aws/resource",
        "ingress.k8s.aws/stack",
        "ingress.k8s.aws/resource",
        "service.k8s.aws/stack",
        "service.k8s.aws/resource",
        "gateway.k8s.aws.alb/stack",
        "gateway.k8s.aws.alb/resource",
        "gateway.k8s.aws.nlb/stack",
        "gateway.k8s.aws.nlb/resource",
    } == naming.TRACKING_TAG_KEYS


def test_legacy_keys() -> None:
    assert naming.legacy_tag_keys("c") == {
        "kubernetes.io/cluster/c",
        "kubernetes.io/cluster-name",
        "kubernetes.io/namespace",
        "kubernetes.io/ingress-name",
        "kubernetes.io/service-name",
        "kubernetes.io/service-port",
        "ingress.k8s.aws/cluster",
    }


def test_tgb_rule_label() -> None:
    assert naming.TGB_RULE_DESCRIPTION == "elbv2.k8s.aws/targetGroupBinding=shared"
