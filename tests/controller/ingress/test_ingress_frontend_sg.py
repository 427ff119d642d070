"""ALB frontend security groups built from Ingress groups (upstream-behaviour §1, §2, scenarios 1-16, 23-29)."""

from __future__ import annotations

import pytest
from ingress_factories import (
    FakeResolver,
    build,
    explicit_group,
    implicit_group,
    ingress,
    make_config,
)

from controller.annotations import (
    ING_INBOUND_CIDRS,
    ING_IP_ADDRESS_TYPE,
    ING_LISTEN_PORTS,
    ING_MANAGE_BACKEND_SG_RULES,
    ING_PREFIX_LISTS,
    ING_SECURITY_GROUPS,
    ING_TAGS,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
    ObjectRef,
)
from controller.model import BACKEND_SG_REF, MANAGED_SG_REF, PeerKind
from controller.model.security_group import RulesQuotaExceededError
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, PrefixListSource, Rule


def tcp(port: int, source: Ipv4CidrSource | Ipv6CidrSource | PrefixListSource) -> Rule:
    return Rule.of("tcp", port, port, source)


async def test_scenario_01_managed_sg_name_and_description() -> None:
    """Scenario 1 (upstream-behaviour §10): Cluster ``cluster-dummy``, implicit Ingress ``ns-1/ing-1``, no SG
    annotation → model built → managed SG ``k8s-ns1-ing1-bd83176788``, description ``[k8s] Managed
    SecurityGroup for LoadBalancer``."""
    model = await build(implicit_group(ingress("ing-1", "ns-1")), config=make_config("cluster-dummy"))
    assert model.managed_sg is not None
    assert model.managed_sg.name == "k8s-ns1-ing1-bd83176788"
    assert model.managed_sg.description == "[k8s] Managed SecurityGroup for LoadBalancer"


async def test_scenario_03_explicit_group_sg_name() -> None:
    """Scenario 3 (upstream-behaviour §10): Explicit group ``my-shared-group.prod`` in ``my-cluster`` → built
    → SG name ``k8s-mysharedgroupprod-eb5b868a68`` (17-character prefix)."""
    member = ingress(
        "a", "default", annotations={"alb.ingress.kubernetes.io/group.name": "my-shared-group.prod"}
    )
    model = await build(explicit_group("my-shared-group.prod", member), [_svc("default")])
    assert model.managed_sg is not None
    assert model.managed_sg.name == "k8s-mysharedgroupprod-eb5b868a68"
    assert model.stack_id == "my-shared-group.prod"


async def test_scenario_05_managed_sg_tracking_tags() -> None:
    """Scenario 5 (upstream-behaviour §10): Implicit Ingress group in ``default`` → SG created → tags include
    ``elbv2.k8s.aws/cluster=<cluster>``, ``ingress.k8s.aws/stack=default/<name>``,
    ``ingress.k8s.aws/resource=ManagedLBSecurityGroup``."""
    model = await build(implicit_group(ingress("echo", "default")), [_svc("default")])
    assert model.managed_sg is not None
    assert model.managed_sg.tags == {
        "elbv2.k8s.aws/cluster": "my-cluster",
        "ingress.k8s.aws/stack": "default/echo",
        "ingress.k8s.aws/resource": "ManagedLBSecurityGroup",
    }


@pytest.mark.parametrize(("low_priority", "expected"), [(False, "a"), (True, "b")])
async def test_scenario_06_default_tags_priority(low_priority: bool, expected: str) -> None:
    """Scenario 6 (upstream-behaviour §10): ``--default-tags team=a``, annotation tags ``team=b``, default
    gates → tagged → ``team=a``; with ``EnableDefaultTagsLowPriority=true`` → ``team=b``."""
    config = make_config(
        default_tags={"team": "a"}, feature_gates={"EnableDefaultTagsLowPriority": low_priority}
    )
    model = await build(implicit_group(ingress(annotations={ING_TAGS: "team=b, env=prod"})), config=config)
    assert model.managed_sg is not None
    assert model.managed_sg.tags["team"] == expected
    assert model.managed_sg.tags["env"] == "prod"
    assert model.load_balancer.tags["team"] == expected
    assert model.tags == {"team": expected, "env": "prod"}


async def test_user_tags_cannot_override_tracking_tags() -> None:
    model = await build(implicit_group(ingress(annotations={ING_TAGS: "ingress.k8s.aws/stack=evil"})))
    assert model.managed_sg is not None
    assert model.managed_sg.tags["ingress.k8s.aws/stack"] == "ns-1/ing-1"


async def test_external_managed_tag_in_annotation_is_an_error() -> None:
    config = make_config(external_managed_tags=("owner",))
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(implicit_group(ingress(annotations={ING_TAGS: "owner=me"})), config=config)
    assert caught.value.key == ING_TAGS


async def test_conflicting_tag_across_group_members() -> None:
    a = ingress("a", annotations={ING_TAGS: "team=x"})
    b = ingress("b", annotations={ING_TAGS: "team=y"})
    with pytest.raises(ConflictingGroupSettingError) as caught:
        await build(explicit_group("g", a, b))
    assert "conflicting tag team" in str(caught.value)


async def test_scenario_09_default_listen_port_rule() -> None:
    """Scenario 9 (upstream-behaviour §10): Ingress without listen-ports or certificates, ipv4 → built →
    exactly one rule, tcp 80 from ``0.0.0.0/0``."""
    model = await build(implicit_group(ingress()))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (tcp(80, Ipv4CidrSource("0.0.0.0/0")),)
    assert [(listener.port, listener.protocol) for listener in model.listeners] == [(80, "HTTP")]
    assert model.warnings == ()


async def test_default_listen_port_is_https_443_with_a_certificate() -> None:
    model = await build(
        implicit_group(
            ingress(annotations={"alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:cert/1"})
        )
    )
    assert [(listener.port, listener.protocol) for listener in model.listeners] == [(443, "HTTPS")]
    assert model.listeners[0].certificate_arns == ("arn:aws:acm:cert/1",)


async def test_scenario_10_two_ports_two_cidrs() -> None:
    """Scenario 10 (upstream-behaviour §10): listen-ports ``[{"HTTP":80},{"HTTPS":443}]``, inbound-cidrs
    ``10.0.0.0/8, 192.168.0.0/16`` → built → 4 tcp rules (2 ports x 2 CIDRs), none IPv6."""
    annotations = {
        ING_LISTEN_PORTS: '[{"HTTP":80},{"HTTPS":443}]',
        ING_INBOUND_CIDRS: "10.0.0.0/8, 192.168.0.0/16",
    }
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert model.managed_sg is not None
    assert set(model.managed_sg.ingress) == {
        tcp(80, Ipv4CidrSource("10.0.0.0/8")),
        tcp(80, Ipv4CidrSource("192.168.0.0/16")),
        tcp(443, Ipv4CidrSource("10.0.0.0/8")),
        tcp(443, Ipv4CidrSource("192.168.0.0/16")),
    }
    assert len(model.managed_sg.ingress) == 4
    assert all(rule.description == "" for rule in model.managed_sg.ingress)


@pytest.mark.parametrize("ip_type", ["dualstack", "dualstack-without-public-ipv4"])
async def test_scenario_11_dualstack_default_sources(ip_type: str) -> None:
    """Scenario 11 (upstream-behaviour §10): ip-address-type ``dualstack``, no inbound-cidrs → built → each
    listen port open from ``0.0.0.0/0`` and ``::/0``."""
    annotations = {ING_LISTEN_PORTS: '[{"HTTP":80},{"HTTPS":443}]', ING_IP_ADDRESS_TYPE: ip_type}
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert model.managed_sg is not None
    assert set(model.managed_sg.ingress) == {
        tcp(port, source)
        for port in (80, 443)
        for source in (Ipv4CidrSource("0.0.0.0/0"), Ipv6CidrSource("::/0"))
    }
    assert model.load_balancer.ip_address_type.value == ip_type


async def test_scenario_12_and_difference_8_ipv6_cidr_on_ipv4_alb_dropped_with_warning() -> None:
    """Scenario 12 (upstream-behaviour §10): ip-address-type ``ipv4``, inbound-cidrs only ``2001:db8::/32`` →
    built → no rule for that port and no error. (We add a Warning event: Difference 8.)"""
    model = await build(implicit_group(ingress(annotations={ING_INBOUND_CIDRS: "2001:db8::/32"})))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == ()
    assert len(model.warnings) == 1
    assert "2001:db8::/32" in model.warnings[0]
    assert ING_INBOUND_CIDRS in model.warnings[0]


async def test_mixed_cidrs_on_ipv4_alb_keep_ipv4_and_warn() -> None:
    model = await build(implicit_group(ingress(annotations={ING_INBOUND_CIDRS: "10.0.0.0/8,2001:db8::/32"})))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (tcp(80, Ipv4CidrSource("10.0.0.0/8")),)
    assert len(model.warnings) == 1


async def test_scenario_13_prefix_list_only() -> None:
    """Scenario 13 (upstream-behaviour §10): Only ``security-group-prefix-lists: pl-1`` on port 443 → built →
    the only rule is tcp 443 from ``pl-1`` (no ``0.0.0.0/0``)."""
    annotations = {ING_LISTEN_PORTS: '[{"HTTPS":443}]', ING_PREFIX_LISTS: "pl-1"}
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (tcp(443, PrefixListSource("pl-1")),)


@pytest.mark.parametrize("key", [ING_PREFIX_LISTS, ING_INBOUND_CIDRS])
@pytest.mark.parametrize("value", ["", " , "])
async def test_empty_prefix_lists_or_inbound_cidrs_keep_the_open_default(key: str, value: str) -> None:
    # Unlike the Service annotation, upstream's Ingress merge tests the lists' length, not the
    # annotation's presence: an empty value sets nothing and the port stays open to all.
    annotations = {key: value, ING_IP_ADDRESS_TYPE: "dualstack"}
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (tcp(80, Ipv4CidrSource("0.0.0.0/0")), tcp(80, Ipv6CidrSource("::/0")))


async def test_scenario_14_conflicting_inbound_cidrs() -> None:
    """Scenario 14 (upstream-behaviour §10): Two group members on port 80 with inbound-cidrs ``10.0.0.0/8``
    and ``172.16.0.0/12`` → built → conflicting inbound-cidrs error, ``FailedBuildModel`` on both."""
    a = ingress("a", annotations={ING_INBOUND_CIDRS: "10.0.0.0/8"})
    b = ingress("b", annotations={ING_INBOUND_CIDRS: "172.16.0.0/12"})
    with pytest.raises(ConflictingGroupSettingError) as caught:
        await build(explicit_group("shared", a, b))
    error = caught.value
    assert "conflicting inbound-cidrs" in str(error)
    assert {ref.name for ref in error.objects} == {"a", "b"}
    assert "10.0.0.0/8" in str(error) and "172.16.0.0/12" in str(error)


async def test_scenario_15_only_one_member_sets_cidrs() -> None:
    """Scenario 15 (upstream-behaviour §10): Two group members on port 80, only one sets inbound-cidrs
    ``10.0.0.0/8`` → built → port 80 open only from ``10.0.0.0/8``."""
    a = ingress("a", annotations={ING_INBOUND_CIDRS: "10.0.0.0/8"})
    b = ingress("b")
    model = await build(explicit_group("shared", a, b))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (tcp(80, Ipv4CidrSource("10.0.0.0/8")),)


async def test_cidrs_are_merged_per_port_only_among_members_declaring_the_port() -> None:
    a = ingress("a", annotations={ING_INBOUND_CIDRS: "10.0.0.0/8"})
    b = ingress("b", annotations={ING_LISTEN_PORTS: '[{"HTTP":8080}]', ING_INBOUND_CIDRS: "172.16.0.0/12"})
    model = await build(explicit_group("shared", a, b))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (
        tcp(80, Ipv4CidrSource("10.0.0.0/8")),
        tcp(8080, Ipv4CidrSource("172.16.0.0/12")),
    )


async def test_same_cidr_set_in_different_order_does_not_conflict() -> None:
    a = ingress("a", annotations={ING_INBOUND_CIDRS: "10.0.0.0/8, 172.16.0.0/12"})
    b = ingress("b", annotations={ING_INBOUND_CIDRS: "172.16.0.0/12,10.0.0.0/8"})
    model = await build(explicit_group("shared", a, b))
    assert model.managed_sg is not None
    assert len(model.managed_sg.ingress) == 2


async def test_conflicting_listen_port_protocol() -> None:
    a = ingress("a", annotations={ING_LISTEN_PORTS: '[{"HTTP":8443}]'})
    b = ingress("b", annotations={ING_LISTEN_PORTS: '[{"HTTPS":8443}]'})
    with pytest.raises(ConflictingGroupSettingError, match="listen-ports protocol"):
        await build(explicit_group("shared", a, b))


async def test_conflicting_prefix_lists() -> None:
    a = ingress("a", annotations={ING_PREFIX_LISTS: "pl-1"})
    b = ingress("b", annotations={ING_PREFIX_LISTS: "pl-2"})
    with pytest.raises(ConflictingGroupSettingError, match="inbound-prefix-lists"):
        await build(explicit_group("shared", a, b))


async def test_conflicting_ip_address_type() -> None:
    a = ingress("a", annotations={ING_IP_ADDRESS_TYPE: "dualstack"})
    b = ingress("b", annotations={ING_IP_ADDRESS_TYPE: "ipv4"})
    with pytest.raises(ConflictingGroupSettingError, match="ip-address-type"):
        await build(explicit_group("shared", a, b))


async def test_scenario_16_invalid_cidr_names_the_ingress() -> None:
    """Scenario 16 (upstream-behaviour §10): inbound-cidrs ``10.0.0.0/33`` → built → invalid-CIDR error naming
    the Ingress."""
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(
            implicit_group(ingress("web", "prod", annotations={ING_INBOUND_CIDRS: "10.0.0.0/33"})),
            [_svc("prod")],
        )
    error = caught.value
    assert error.object_ref == ObjectRef("Ingress", "prod", "web")
    assert error.key == ING_INBOUND_CIDRS
    assert error.value == "10.0.0.0/33"
    assert "Ingress prod/web" in str(error) and ING_INBOUND_CIDRS in str(error)


# --- custom security groups --------------------------------------------------------------------


async def test_scenario_23_custom_sgs_by_id_and_name() -> None:
    """Scenario 23 (upstream-behaviour §10): ``security-groups: sg-aaa, web-sg`` and a VPC SG tagged
    ``Name=web-sg`` → resolved → LB SGs ``[sg-aaa, <web-sg id>]``, no managed SG."""
    resolver = FakeResolver({"web-sg": ["sg-web"]})
    model = await build(
        implicit_group(ingress(annotations={ING_SECURITY_GROUPS: "sg-aaa, web-sg"})), resolver=resolver
    )
    assert model.security_group_refs == ("sg-aaa", "sg-web")
    assert model.managed_sg is None
    assert resolver.calls == [["sg-aaa", "web-sg"]]


async def test_scenario_24_unresolvable_name_is_a_typed_error() -> None:
    """Scenario 24 (upstream-behaviour §10): ``security-groups: missing-name``, no SG with that ``Name`` tag
    in the VPC → resolved → error starting "couldn't find all security groups", no AWS change."""
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(implicit_group(ingress(annotations={ING_SECURITY_GROUPS: "missing-name"})))
    assert caught.value.key == ING_SECURITY_GROUPS
    assert caught.value.value == "missing-name"
    assert caught.value.reason.startswith("couldn't find all security groups")


async def test_scenario_25_ambiguous_name_attaches_all() -> None:
    """Scenario 25 (upstream-behaviour §10): Two VPC SGs tagged ``Name=shared``, ``security-groups: shared`` →
    resolved → both attached, no ambiguity error."""
    resolver = FakeResolver({"shared": ["sg-1", "sg-2"]})
    model = await build(
        implicit_group(ingress(annotations={ING_SECURITY_GROUPS: "shared"})), resolver=resolver
    )
    assert model.security_group_refs == ("sg-1", "sg-2")


async def test_scenario_26_conflicting_security_groups_order_matters() -> None:
    """Scenario 26 (upstream-behaviour §10): Group members with ``sg-a, sg-b`` and ``sg-b, sg-a`` → built →
    conflicting securityGroups error (order matters)."""
    a = ingress("a", annotations={ING_SECURITY_GROUPS: "sg-a, sg-b"})
    b = ingress("b", annotations={ING_SECURITY_GROUPS: "sg-b, sg-a"})
    with pytest.raises(ConflictingGroupSettingError) as caught:
        await build(explicit_group("shared", a, b))
    assert "conflicting securityGroups" in str(caught.value)
    assert "[sg-a, sg-b]" in str(caught.value) and "[sg-b, sg-a]" in str(caught.value)


async def test_members_without_security_groups_do_not_take_part() -> None:
    a = ingress("a", annotations={ING_SECURITY_GROUPS: "sg-a"})
    b = ingress("b")
    model = await build(explicit_group("shared", a, b))
    assert model.security_group_refs == ("sg-a",)
    assert model.managed_sg is None


async def test_scenario_27_manage_rules_without_backend_sg_is_an_error() -> None:
    """Scenario 27 (upstream-behaviour §10): Custom SGs, ``manage-backend-security-group-rules: "true"``,
    ``--enable-backend-security-group=false`` → built → build error (backend SG required)."""
    config = make_config(enable_backend_security_group=False)
    annotations = {ING_SECURITY_GROUPS: "sg-a", ING_MANAGE_BACKEND_SG_RULES: "true"}
    resolver = FakeResolver()
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(implicit_group(ingress(annotations=annotations)), config=config, resolver=resolver)
    assert caught.value.key == ING_MANAGE_BACKEND_SG_RULES
    assert "backendSG feature is required" in str(caught.value)
    assert resolver.calls == []


async def test_scenario_28_custom_sgs_without_management_have_no_networking() -> None:
    """Scenario 28 (upstream-behaviour §10): Custom SGs, no manage annotation, default flags → built → the TGB
    has no ``networking``; no endpoint-SG rules."""
    model = await build(implicit_group(ingress(annotations={ING_SECURITY_GROUPS: "sg-a"})))
    assert model.needs_backend_sg is False
    assert model.security_group_refs == ("sg-a",)
    assert [binding.networking for binding in model.target_group_bindings] == [None]


async def test_scenario_29_custom_sgs_with_management_use_backend_sg() -> None:
    """Scenario 29 (upstream-behaviour §10): Custom SGs, manage annotation ``true``, backend SG enabled →
    built → LB SGs ``[custom..., backend]``; TGB networking sources the backend SG."""
    annotations = {ING_SECURITY_GROUPS: "sg-a, sg-b", ING_MANAGE_BACKEND_SG_RULES: "true"}
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert model.security_group_refs == ("sg-a", "sg-b", BACKEND_SG_REF)
    assert model.needs_backend_sg is True
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    assert networking.security_group_refs == frozenset({BACKEND_SG_REF})


async def test_manage_flag_default_applies_without_annotation() -> None:
    config = make_config(enable_manage_backend_security_group_rules=True)
    model = await build(implicit_group(ingress(annotations={ING_SECURITY_GROUPS: "sg-a"})), config=config)
    assert model.security_group_refs == ("sg-a", BACKEND_SG_REF)


async def test_conflicting_manage_backend_rules() -> None:
    a = ingress("a", annotations={ING_SECURITY_GROUPS: "sg-a", ING_MANAGE_BACKEND_SG_RULES: "true"})
    b = ingress("b", annotations={ING_SECURITY_GROUPS: "sg-a", ING_MANAGE_BACKEND_SG_RULES: "false"})
    with pytest.raises(ConflictingGroupSettingError, match="manage backend security group rules"):
        await build(explicit_group("shared", a, b))


async def test_manage_annotation_is_ignored_in_auto_mode() -> None:
    config = make_config(enable_backend_security_group=False)
    model = await build(
        implicit_group(ingress(annotations={ING_MANAGE_BACKEND_SG_RULES: "true"})), config=config
    )
    assert model.security_group_refs == (MANAGED_SG_REF,)


async def test_auto_mode_with_backend_sg() -> None:
    model = await build(implicit_group(ingress()))
    assert model.security_group_refs == (MANAGED_SG_REF, BACKEND_SG_REF)
    assert model.needs_backend_sg is True
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    peers = {peer for rule in networking.ingress for peer in rule.peers}
    assert {(p.kind, p.value) for p in peers} == {(PeerKind.SECURITY_GROUP, BACKEND_SG_REF)}


async def test_auto_mode_without_backend_sg_sources_rules_from_managed_sg() -> None:
    model = await build(implicit_group(ingress()), config=make_config(enable_backend_security_group=False))
    assert model.security_group_refs == (MANAGED_SG_REF,)
    assert model.needs_backend_sg is False
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    assert networking.security_group_refs == frozenset({MANAGED_SG_REF})


def _svc(namespace: str) -> dict[str, object]:
    from ingress_factories import service

    return service(namespace=namespace)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('team=say "hi"', "the value of tag key 'team' contains '\"', which ELBv2 does not allow"),
        ("team=a\nb", "contains '\\n'"),
        ("aws:owner=me", "tag key 'aws:owner' starts with 'aws:', which AWS reserves"),
        ("blob=" + "v" * 102400, "is 102400 characters long; EC2 and ELBv2 allow at most 256"),
        ("k" * 129 + "=v", "is 129 characters long; EC2 and ELBv2 allow at most 128"),
    ],
)
async def test_tags_aws_would_refuse_fail_the_build_naming_the_key(raw: str, problem: str) -> None:
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(implicit_group(ingress(annotations={ING_TAGS: raw})))
    message = str(caught.value)
    assert caught.value.key == ING_TAGS and problem in message, message
    assert message.startswith(f"Ingress ns-1/ing-1: invalid {ING_TAGS}=")
    assert len(message) < 600  # a 100 KB value is cut, so the reason survives the 1 kB event limit


async def test_inbound_cidrs_times_ports_beyond_the_rules_quota_fail_the_build() -> None:
    """3 listen ports x 4 CIDRs = 12 rules: within the default quota of 60, past a quota of 10. AWS
    would refuse them (RulesPerSecurityGroupLimitExceeded); the build fails first, naming every
    member, the SG, the rules needed and the quota, so nothing is sent."""
    annotations = {
        ING_LISTEN_PORTS: '[{"HTTP":80},{"HTTPS":443},{"HTTP":8080}]',
        ING_INBOUND_CIDRS: "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10",
    }
    group = implicit_group(ingress(annotations=annotations))
    assert (await build(group)).managed_sg is not None
    with pytest.raises(RulesQuotaExceededError) as raised:
        await build(group, config=make_config(sg_rules_quota=10))
    assert not raised.value.retryable
    message = str(raised.value)
    assert message.startswith("Ingress ns-1/ing-1: managed security group k8s-ns1-ing1-")
    assert (
        "would need 12 inbound rules" in message and "more than the quota of 10 (--sg-rules-quota)" in message
    )
    # Exactly at the quota is fine.
    assert (await build(group, config=make_config(sg_rules_quota=12))).managed_sg is not None
