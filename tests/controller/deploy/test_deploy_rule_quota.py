"""The managed SG's rules and the quota: counted and exported, and never past it in a request."""

from __future__ import annotations

from deploy_factories import build_alb_model, ingress
from prometheus_client import CollectorRegistry

from controller.annotations import ING_CERTIFICATE_ARN, ING_INBOUND_CIDRS, ING_LISTEN_PORTS
from controller.aws.api import AwsApi
from controller.deploy import StackDeployer
from controller.metrics import SecurityGroupRuleMetrics
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.certificates import request_certificates
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


def cidrs(first: int, count: int) -> str:
    return ", ".join(f"10.{n}.0.0/16" for n in range(first, first + count))


async def test_managed_sg_rules_are_exported_replaced_without_a_refused_call_and_forgotten(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    fresh_moto: MotoServer,
    deploy_reader: SecurityGroupReader,
    sandbox_vpc: SandboxVpc,
    backend_sg: str,
) -> None:
    aws_proxy.rules_per_security_group = 10
    registry = CollectorRegistry()
    deployer = StackDeployer(
        aws_api,
        deploy_reader,
        cluster_name=sandbox_vpc.cluster_name,
        vpc_id=sandbox_vpc.vpc_id,
        rules_quota=10,
        rule_metrics=SecurityGroupRuleMetrics(registry),
    )
    ports = '[{"HTTP":80},{"HTTPS":443}]'
    # AWS refuses an HTTPS listener without a certificate.
    (certificate,) = await request_certificates(fresh_moto.url, "quota.example.com")
    tls = {ING_LISTEN_PORTS: ports, ING_CERTIFICATE_ARN: certificate}
    first = await build_alb_model(ingress(annotations={**tls, ING_INBOUND_CIDRS: cidrs(0, 4)}))
    deployed = await deployer.deploy(first, backend_sg_id=backend_sg)
    sg = deployed.managed_sg_id
    assert sg is not None
    assert registry.get_sample_value("awslbc_security_group_rules", {"security_group_id": sg}) == 8

    # 8 rules replaced by 8 others: authorizing first would need 16 > 10, so the pass revokes first.
    second = await build_alb_model(ingress(annotations={**tls, ING_INBOUND_CIDRS: cidrs(10, 4)}))
    aws_proxy.reset_counts()
    await deployer.deploy(second, backend_sg_id=backend_sg)
    rule_calls = [r for r in aws_proxy.request_log if r.operation.endswith("SecurityGroupIngress")]
    assert [(r.operation, r.status) for r in rule_calls] == [
        ("RevokeSecurityGroupIngress", 200),
        ("AuthorizeSecurityGroupIngress", 200),
    ]

    await deployer.delete_stack(second.stack_tags)
    assert registry.get_sample_value("awslbc_security_group_rules", {"security_group_id": sg}) is None
