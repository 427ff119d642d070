"""HTTPS listeners: the first certificate is the listener's default, the others are SNI certificates."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_factories import DeployerFactory, build_alb_model, build_nlb_model, ingress, lb_service

from controller.annotations import (
    ING_CERTIFICATE_ARN,
    ING_LISTEN_PORTS,
    ING_SSL_POLICY,
    SVC_ALPN_POLICY,
    SVC_SSL_CERT,
    SVC_SSL_PORTS,
)
from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.model import StackModel
from controller.sandbox.certificates import request_certificates
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy


async def test_https_listener_gets_default_and_sni_certificates_and_converges(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    fresh_moto: MotoServer,
    make_deployer: DeployerFactory,
    backend_sg: str,
) -> None:
    one, two, three = await request_certificates(
        fresh_moto.url, "a.example.com", "b.example.com", "c.example.com"
    )
    deployer = make_deployer()

    async def model_with(*certs: str) -> StackModel:
        annotations = {ING_LISTEN_PORTS: '[{"HTTPS": 443}]', ING_CERTIFICATE_ARN: ",".join(certs)}
        return await build_alb_model(ingress(annotations=annotations))

    result = await deployer.deploy(await model_with(one, two), backend_sg_id=backend_sg)

    (listener,) = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=result.lb_arn))[
        "Listeners"
    ]
    assert (listener["Port"], listener["Protocol"]) == (443, "HTTPS")
    # AWS lists only the default certificate here; moto also lists the SNI ones after it.
    assert listener["Certificates"][0]["CertificateArn"] == one

    async def sni_certificates() -> set[str]:
        listed = await aws_api.paginate(
            "elbv2", "DescribeListenerCertificates", "Certificates", ListenerArn=listener["ListenerArn"]
        )
        return {c["CertificateArn"] for c in listed if not c.get("IsDefault")} - {one}

    assert await sni_certificates() == {two}

    aws_proxy.reset_counts()
    await deployer.deploy(await model_with(one, two), backend_sg_id=backend_sg)
    assert {op for op in aws_proxy.calls_by_operation() if not op.startswith("Describe")} == set()

    await deployer.deploy(await model_with(one, three), backend_sg_id=backend_sg)
    assert await sni_certificates() == {three}
    (listener,) = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=result.lb_arn))[
        "Listeners"
    ]
    assert listener["Certificates"][0]["CertificateArn"] == one


async def listener_on(aws_api: AwsApi, lb_arn: str, port: int) -> dict[str, Any]:
    listeners = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=lb_arn))["Listeners"]
    return next(ls for ls in listeners if ls["Port"] == port)


def writes(aws_proxy: AwsProxy) -> set[str]:
    return {op for op in aws_proxy.calls_by_operation() if not op.startswith("Describe")}


async def test_ssl_policy_is_set_changed_and_left_alone_when_it_matches(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    fresh_moto: MotoServer,
    make_deployer: DeployerFactory,
    backend_sg: str,
) -> None:
    (cert,) = await request_certificates(fresh_moto.url, "policy.example.com")
    deployer = make_deployer()

    async def model_with(**extra: str) -> StackModel:
        annotations = {ING_LISTEN_PORTS: '[{"HTTP": 80}, {"HTTPS": 443}]', ING_CERTIFICATE_ARN: cert, **extra}
        return await build_alb_model(ingress(annotations=annotations))

    result = await deployer.deploy(await model_with(), backend_sg_id=backend_sg)
    create = [r.params for r in aws_proxy.request_log if r.operation == "CreateListener"]
    # Only the HTTPS listener names a policy: AWS refuses one on an HTTP listener.
    assert sorted((p["Port"], p.get("SslPolicy")) for p in create) == [
        ("443", "ELBSecurityPolicy-2016-08"),
        ("80", None),
    ]
    assert (await listener_on(aws_api, result.lb_arn, 443))["SslPolicy"] == "ELBSecurityPolicy-2016-08"

    aws_proxy.reset_counts()
    await deployer.deploy(await model_with(), backend_sg_id=backend_sg)
    assert writes(aws_proxy) == set()

    policy = {ING_SSL_POLICY: "ELBSecurityPolicy-TLS13-1-2-2021-06"}
    aws_proxy.reset_counts()
    await deployer.deploy(await model_with(**policy), backend_sg_id=backend_sg)
    (modify,) = [r.params for r in aws_proxy.request_log if r.operation == "ModifyListener"]
    assert modify["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert "Certificates.member.1.CertificateArn" not in modify  # the certificate did not change
    assert (await listener_on(aws_api, result.lb_arn, 443))[
        "SslPolicy"
    ] == "ELBSecurityPolicy-TLS13-1-2-2021-06"

    aws_proxy.reset_counts()
    await deployer.deploy(await model_with(**policy), backend_sg_id=backend_sg)
    assert writes(aws_proxy) == set()


async def test_nlb_tls_listener_with_sni_certificate_and_alpn_converges(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    fresh_moto: MotoServer,
    make_deployer: DeployerFactory,
    backend_sg: str,
) -> None:
    one, two = await request_certificates(fresh_moto.url, "nlb.example.com", "sni.example.com")
    service = lb_service()
    service["spec"]["ports"].append(
        {"name": "tls", "port": 443, "targetPort": 8443, "nodePort": 31443, "protocol": "TCP"}
    )
    service["metadata"]["annotations"].update(
        {SVC_SSL_CERT: f"{one},{two}", SVC_SSL_PORTS: "tls", SVC_ALPN_POLICY: "HTTP2Preferred"}
    )
    deployer = make_deployer()
    result = await deployer.deploy(await build_nlb_model(service), backend_sg_id=backend_sg)

    plain = await listener_on(aws_api, result.lb_arn, 80)
    assert plain["Protocol"] == "TCP"
    tls = await listener_on(aws_api, result.lb_arn, 443)
    assert (tls["Protocol"], tls["SslPolicy"], tls["AlpnPolicy"]) == (
        "TLS",
        "ELBSecurityPolicy-2016-08",
        ["HTTP2Preferred"],
    )
    assert tls["Certificates"][0]["CertificateArn"] == one
    listed = await aws_api.paginate(
        "elbv2", "DescribeListenerCertificates", "Certificates", ListenerArn=tls["ListenerArn"]
    )
    assert {c["CertificateArn"] for c in listed} == {one, two}

    aws_proxy.reset_counts()
    await deployer.deploy(await build_nlb_model(service), backend_sg_id=backend_sg)
    assert writes(aws_proxy) == set()

    # A changed ALPN policy is sent (moto's ModifyListener ignores AlpnPolicy, so only the request shows).
    service["metadata"]["annotations"][SVC_ALPN_POLICY] = "HTTP1Only"
    aws_proxy.reset_counts()
    await deployer.deploy(await build_nlb_model(service), backend_sg_id=backend_sg)
    (modify,) = [r.params for r in aws_proxy.request_log if r.operation == "ModifyListener"]
    assert (modify["ListenerArn"], modify["AlpnPolicy.member.1"]) == (tls["ListenerArn"], "HTTP1Only")


async def test_aws_refuses_an_https_listener_without_certificate_and_an_unknown_policy(
    aws_proxy: AwsProxy,
    fresh_moto: MotoServer,
    make_deployer: DeployerFactory,
    backend_sg: str,
) -> None:
    deployer = make_deployer()
    no_certificate = await build_alb_model(ingress(annotations={ING_LISTEN_PORTS: '[{"HTTPS": 443}]'}))
    with pytest.raises(AwsApiError) as caught:
        await deployer.deploy(no_certificate, backend_sg_id=backend_sg)
    assert (caught.value.code, caught.value.message) == (
        "ValidationError",
        "A certificate must be specified for HTTPS listeners",
    )

    (cert,) = await request_certificates(fresh_moto.url, "unknown-policy.example.com")
    unknown = await build_alb_model(
        ingress(annotations={ING_CERTIFICATE_ARN: cert, ING_SSL_POLICY: "ELBSecurityPolicy-Nope"})
    )
    with pytest.raises(AwsApiError) as caught:
        await deployer.deploy(unknown, backend_sg_id=backend_sg)
    assert caught.value.code == "SSLPolicyNotFound"
    assert "ELBSecurityPolicy-Nope" in caught.value.message
