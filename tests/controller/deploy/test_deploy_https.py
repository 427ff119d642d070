"""HTTPS listeners: the first certificate is the listener's default, the others are SNI certificates."""

from __future__ import annotations

from deploy_factories import DeployerFactory, build_alb_model, ingress

from controller.annotations import ING_CERTIFICATE_ARN, ING_LISTEN_PORTS
from controller.aws.api import AwsApi
from controller.aws.session import new_session
from controller.model import StackModel
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_REGION


async def request_certificates(moto: MotoServer, *domains: str) -> list[str]:
    """ACM is outside ``AwsApi`` (the controller never calls it), so the test asks moto directly."""
    async with new_session().create_client(
        "acm",
        region_name=SANDBOX_REGION,
        endpoint_url=moto.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as acm:
        return [str((await acm.request_certificate(DomainName=d))["CertificateArn"]) for d in domains]


async def test_https_listener_gets_default_and_sni_certificates_and_converges(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    fresh_moto: MotoServer,
    make_deployer: DeployerFactory,
    backend_sg: str,
) -> None:
    one, two, three = await request_certificates(
        fresh_moto, "a.example.com", "b.example.com", "c.example.com"
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
