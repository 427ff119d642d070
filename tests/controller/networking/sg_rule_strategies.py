"""Hypothesis strategies for SG rules."""

from __future__ import annotations

from hypothesis import strategies as st

from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    Rule,
    RuleSource,
    SecurityGroupSource,
)

sources: st.SearchStrategy[RuleSource] = st.one_of(
    st.builds(Ipv4CidrSource, st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "192.168.1.0/24", "10.1.2.3/32"])),
    st.builds(Ipv6CidrSource, st.sampled_from(["::/0", "2001:db8::/32", "fd00::/8"])),
    st.builds(PrefixListSource, st.sampled_from(["pl-1", "pl-2"])),
    st.builds(SecurityGroupSource, st.sampled_from(["sg-a", "sg-b", "sg-c"])),
)
descriptions = st.sampled_from(["", "ops", "elbv2.k8s.aws/targetGroupBinding=shared", "a=1,b=2", "x=y"])


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    protocol = draw(st.sampled_from(["tcp", "udp", "icmp", "-1", "6", "50"]))
    from_port = draw(st.sampled_from([0, 80, 443, 30080]))
    to_port = draw(st.sampled_from([from_port, 65535]))
    return Rule.of(protocol, from_port, to_port, draw(sources), draw(descriptions))


rule_lists = st.lists(rules(), max_size=25)
