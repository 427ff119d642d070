"""End to end: HTTPS and TLS listeners.

One controller run: an Ingress with two certificates and an SSL policy becomes an ALB whose HTTPS
listener has the first certificate as default and the second in its certificate list; a Service
with one TLS port among two becomes an NLB with one TCP and one TLS listener (certificate, default
SSL policy, ALPN policy). TLS changes no security group rule: they stay TCP rules on the listen
ports. Bad input is reported where it belongs while the others converge: an ``ssl-ports`` entry the
Service lacks is a Warning naming the Service, the key and the value; an SSL policy AWS does not
have is refused by AWS, and the Warning carries AWS's message.
"""

from __future__ import annotations

from typing import Any

from e2e_harness import (
    RunningController,
    StartController,
    wait_for,
    wait_for_load_balancer,
    wait_for_service_hostname,
    wait_for_warning,
)
from e2e_objects import (
    cidr_rules,
    create_node_port_service,
    ingress_manifest,
    ingress_rules,
    nlb_service_manifest,
    security_groups_tagged,
)

from controller.annotations import (
    ING_CERTIFICATE_ARN,
    ING_LISTEN_PORTS,
    ING_SSL_POLICY,
    SVC_ALPN_POLICY,
    SVC_SSL_CERT,
    SVC_SSL_PORTS,
)
from controller.aws.client import AwsClient
from controller.sandbox.certificates import request_certificates
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.moto_server import MotoServer
from framework.kube import INGRESSES, SERVICES, KubeClient

POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def _tls_service(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    body = nlb_service_manifest(name, port_name="http")
    body["spec"]["ports"].append({"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443})
    body["metadata"]["annotations"].update(annotations)
    return body


async def _listeners(aws: AwsClient, lb_arn: str) -> dict[int, dict[str, Any]]:
    found = (await aws.call("elbv2", "DescribeListeners", LoadBalancerArn=lb_arn))["Listeners"]
    return {int(ls["Port"]): ls for ls in found}


async def _certificates(aws: AwsClient, listener_arn: str) -> set[str]:
    listed = await aws.paginate(
        "elbv2", "DescribeListenerCertificates", "Certificates", ListenerArn=listener_arn
    )
    return {str(c["CertificateArn"]) for c in listed}


async def _nlb(
    running: RunningController, aws: AwsClient, kube: KubeClient, namespace: str, name: str
) -> Any:
    hostname = await wait_for_service_hostname(running, kube, namespace, name)
    balancers = (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
    return next(lb for lb in balancers if lb["DNSName"].lower() == hostname)


async def _frontend_rules(aws: AwsClient, cluster: SandboxCluster, key: str, stack: str) -> set[Any]:
    (managed,) = await security_groups_tagged(aws, cluster.vpc.vpc_id, key, stack)
    return cidr_rules(await ingress_rules(aws, managed["GroupId"]))


async def test_https_alb_with_two_certificates_and_nlb_with_one_tls_port(
    aws_api: AwsClient,
    fresh_moto: MotoServer,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    default_cert, sni_cert, nlb_cert = await request_certificates(
        fresh_moto.url, "alb.example.com", "www.example.com", "nlb.example.com"
    )
    await create_node_port_service(kube, namespace, "echo")
    secure = {
        ING_LISTEN_PORTS: '[{"HTTP": 80}, {"HTTPS": 443}]',
        ING_CERTIFICATE_ARN: f"{default_cert},{sni_cert}",
        ING_SSL_POLICY: POLICY,
    }
    unknown_policy = {ING_CERTIFICATE_ARN: default_cert, ING_SSL_POLICY: "ELBSecurityPolicy-Nope"}
    tls = {SVC_SSL_CERT: nlb_cert, SVC_SSL_PORTS: "https", SVC_ALPN_POLICY: "HTTP2Preferred"}

    async with start_controller() as running:
        await kube.create(INGRESSES, ingress_manifest("secure", "echo", secure), namespace)
        await kube.create(INGRESSES, ingress_manifest("nope", "echo", unknown_policy), namespace)
        await kube.create(SERVICES, _tls_service("tls", tls), namespace)
        await kube.create(SERVICES, _tls_service("bad", {**tls, SVC_SSL_PORTS: "https, 8443"}), namespace)

        alb = await wait_for_load_balancer(running, aws_api, kube, namespace, "secure")
        nlb = await _nlb(running, aws_api, kube, namespace, "tls")

        async def alb_listeners() -> dict[int, dict[str, Any]] | None:
            found = await _listeners(aws_api, alb["LoadBalancerArn"])
            return found if set(found) == {80, 443} else None

        on_alb = await wait_for(running, alb_listeners, "the ALB's HTTP and HTTPS listeners")
        assert on_alb[80]["Protocol"] == "HTTP"
        https = on_alb[443]
        assert (https["Protocol"], https["SslPolicy"]) == ("HTTPS", POLICY)
        assert [c["CertificateArn"] for c in https["Certificates"]][:1] == [default_cert]
        assert await _certificates(aws_api, https["ListenerArn"]) == {default_cert, sni_cert}

        on_nlb = await _listeners(aws_api, nlb["LoadBalancerArn"])
        assert on_nlb[80]["Protocol"] == "TCP"
        tls_listener = on_nlb[443]
        assert (tls_listener["Protocol"], tls_listener["SslPolicy"], tls_listener["AlpnPolicy"]) == (
            "TLS",
            "ELBSecurityPolicy-2016-08",
            ["HTTP2Preferred"],
        )
        assert tls_listener["Certificates"][0]["CertificateArn"] == nlb_cert
        groups = (
            await aws_api.call("elbv2", "DescribeTargetGroups", LoadBalancerArn=nlb["LoadBalancerArn"])
        )["TargetGroups"]
        assert sorted((g["Port"] > 0, g["Protocol"]) for g in groups) == [(True, "TCP"), (True, "TCP")]

        # TLS terminates on the load balancer: the frontend rules stay plain TCP on the listen ports.
        everyone = "0.0.0.0/0"
        assert await _frontend_rules(aws_api, cluster, "ingress.k8s.aws/stack", f"{namespace}/secure") == {
            ("tcp", 80, 80, everyone),
            ("tcp", 443, 443, everyone),
        }
        assert await _frontend_rules(aws_api, cluster, "service.k8s.aws/stack", f"{namespace}/tls") == {
            ("tcp", 80, 80, everyone),
            ("tcp", 443, 443, everyone),
        }

        await wait_for_warning(
            running, kube, namespace, "bad", "FailedBuildModel", "Unused port in ssl-ports annotation [8443]"
        )
        event = await wait_for_warning(running, kube, namespace, "bad", "FailedBuildModel", SVC_SSL_PORTS)
        assert "Service" in event["note"] and "https, 8443" in event["note"]
        await wait_for_warning(
            running,
            kube,
            namespace,
            "nope",
            "FailedDeployModel",
            "SSLPolicyNotFound: The specified SSL policy does not exist: 'ELBSecurityPolicy-Nope'",
        )

    assert running.process.returncode == 0, running.log()[-4000:]
