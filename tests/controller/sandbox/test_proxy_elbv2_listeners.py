"""The proxy refuses HTTPS/TLS listeners without a certificate and unknown SSL policies, as AWS does
(moto accepts both), and lets everything AWS accepts through to moto."""

from __future__ import annotations

from typing import Any

import pytest
from moto.elbv2.ssl_policies import SSL_POLICIES

from controller.aws.client import AwsClient
from controller.aws.errors import AwsApiError
from controller.sandbox.certificates import request_certificates
from controller.sandbox.elbv2_semantics import PREDEFINED_SSL_POLICIES
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

FORWARD_404 = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]


async def refused(aws: AwsClient, operation: str, **params: Any) -> AwsApiError:
    with pytest.raises(AwsApiError) as caught:
        await aws.call("elbv2", operation, **params)
    assert caught.value.status_code == 400 and caught.value.attempts == 1, caught.value
    return caught.value


async def load_balancer(aws: AwsClient, vpc: SandboxVpc, lb_type: str) -> str:
    created = await aws.call(
        "elbv2", "CreateLoadBalancer", Name=f"tls-{lb_type}", Subnets=list(vpc.subnet_ids[:2]), Type=lb_type
    )
    return str(created["LoadBalancers"][0]["LoadBalancerArn"])


async def listeners(aws: AwsClient, lb_arn: str) -> list[dict[str, Any]]:
    return list((await aws.call("elbv2", "DescribeListeners", LoadBalancerArn=lb_arn))["Listeners"])


async def test_https_and_tls_listeners_without_a_certificate_are_refused_and_nothing_is_created(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    alb = await load_balancer(aws_api, sandbox_vpc, "application")
    error = await refused(
        aws_api, "CreateListener", LoadBalancerArn=alb, Port=443, Protocol="HTTPS", DefaultActions=FORWARD_404
    )
    assert (error.code, error.message) == (
        "ValidationError",
        "A certificate must be specified for HTTPS listeners",
    )
    assert await listeners(aws_api, alb) == []

    nlb = await load_balancer(aws_api, sandbox_vpc, "network")
    group = await aws_api.call(
        "elbv2", "CreateTargetGroup", Name="tls-tg", Protocol="TCP", Port=80, VpcId=sandbox_vpc.vpc_id
    )
    forward = [{"Type": "forward", "TargetGroupArn": group["TargetGroups"][0]["TargetGroupArn"]}]
    error = await refused(
        aws_api, "CreateListener", LoadBalancerArn=nlb, Port=443, Protocol="TLS", DefaultActions=forward
    )
    assert (error.code, error.message) == (
        "ValidationError",
        "A certificate must be specified for TLS listeners",
    )
    assert await listeners(aws_api, nlb) == []
    outcomes = [r.outcome for r in aws_proxy.request_log if r.operation == "CreateListener"]
    assert outcomes == ["invalid-listener", "invalid-listener"]


async def test_ssl_policies_aws_does_not_have_or_on_a_plain_listener_are_refused(
    aws_api: AwsClient, fresh_moto: MotoServer, sandbox_vpc: SandboxVpc
) -> None:
    alb = await load_balancer(aws_api, sandbox_vpc, "application")
    (cert,) = await request_certificates(fresh_moto.url, "proxy.example.com")
    https: dict[str, Any] = {
        "LoadBalancerArn": alb,
        "Port": 443,
        "Protocol": "HTTPS",
        "Certificates": [{"CertificateArn": cert}],
        "DefaultActions": FORWARD_404,
    }
    error = await refused(aws_api, "CreateListener", **https, SslPolicy="ELBSecurityPolicy-Nope")
    assert (error.code, error.message) == (
        "SSLPolicyNotFound",
        "The specified SSL policy does not exist: 'ELBSecurityPolicy-Nope'",
    )
    error = await refused(
        aws_api,
        "CreateListener",
        LoadBalancerArn=alb,
        Port=80,
        Protocol="HTTP",
        SslPolicy="ELBSecurityPolicy-2016-08",
        DefaultActions=FORWARD_404,
    )
    assert (error.code, error.message) == (
        "ValidationError",
        "An SSL policy cannot be specifed for HTTP listeners",
    )
    assert await listeners(aws_api, alb) == []

    # A policy AWS has (and moto's short list lacks) goes through.
    fips = "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04"
    assert fips not in SSL_POLICIES
    await aws_api.call("elbv2", "CreateListener", **https, SslPolicy=fips)
    (created,) = await listeners(aws_api, alb)
    assert created["SslPolicy"] == fips

    error = await refused(aws_api, "ModifyListener", ListenerArn=created["ListenerArn"], SslPolicy="TLS-1-3")
    assert error.code == "SSLPolicyNotFound"


async def test_modify_to_https_needs_a_certificate_unless_the_listener_has_one(
    aws_api: AwsClient, fresh_moto: MotoServer, sandbox_vpc: SandboxVpc
) -> None:
    alb = await load_balancer(aws_api, sandbox_vpc, "application")
    await aws_api.call(
        "elbv2", "CreateListener", LoadBalancerArn=alb, Port=8443, Protocol="HTTP", DefaultActions=FORWARD_404
    )
    (plain,) = await listeners(aws_api, alb)
    error = await refused(aws_api, "ModifyListener", ListenerArn=plain["ListenerArn"], Protocol="HTTPS")
    assert (error.code, error.message) == (
        "ValidationError",
        "A certificate must be specified for HTTPS listeners",
    )

    (cert,) = await request_certificates(fresh_moto.url, "modify.example.com")
    await aws_api.call(
        "elbv2",
        "ModifyListener",
        ListenerArn=plain["ListenerArn"],
        Protocol="HTTPS",
        Certificates=[{"CertificateArn": cert}],
    )
    # Now it has one: naming the protocol again without a certificate keeps it.
    await aws_api.call("elbv2", "ModifyListener", ListenerArn=plain["ListenerArn"], Protocol="HTTPS")
    (https,) = await listeners(aws_api, alb)
    assert (https["Protocol"], https["Certificates"][0]["CertificateArn"]) == ("HTTPS", cert)


def test_moto_knows_only_policies_aws_has() -> None:
    """The predefined list is AWS's; moto's own (which its ModifyListener checks) is a subset of it."""
    assert set(SSL_POLICIES) <= PREDEFINED_SSL_POLICIES
    assert "ELBSecurityPolicy-2016-08" in PREDEFINED_SSL_POLICIES
