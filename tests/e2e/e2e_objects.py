"""What the end-to-end tests create and read: manifests, NodePort Services, and AWS lookups.

Shared by every ``test_e2e_*`` module (imported by module name; pytest puts this directory on
``sys.path``). Waiting for outcomes lives in ``e2e_harness``, which builds on these reads.
"""

from __future__ import annotations

from typing import Any

from controller.aws.api import AwsApi
from controller.aws.client import AwsClient
from controller.naming import TGB_RULE_DESCRIPTION
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework.kube import PODS, SERVICES, KubeClient, Resource

ALB_SCHEME = "alb.ingress.kubernetes.io/scheme"
SECURITY_GROUPS = "alb.ingress.kubernetes.io/security-groups"
MANAGE_BACKEND_RULES = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
EVENTS_PATH = "/apis/events.k8s.io/v1/namespaces/{namespace}/events"
# Operations that change something in AWS; "no AWS change" means none of these was sent.
MUTATING_PREFIXES = (
    "Create",
    "Delete",
    "Authorize",
    "Revoke",
    "Modify",
    "Register",
    "Deregister",
    "Add",
    "Remove",
    "Set",
)

Rule = tuple[str, int, int, str]
"""(protocol, from port, to port, source) of one single-source inbound rule."""
NodeRule = tuple[str, str, int, int]
"""(source SG, protocol, from port, to port) of one labelled rule on the node SG."""


# ---- manifests and Kubernetes objects ---------------------------------------------------------


def ingress_manifest(
    name: str, service: str, annotations: dict[str, str] | None = None, *, internet_facing: bool = True
) -> dict[str, Any]:
    """An ``alb`` Ingress routing ``/`` to port 80 of ``service``.

    Internet-facing unless told otherwise: the sandbox VPC's subnets are tagged for public ELBs only.
    """
    scheme = {ALB_SCHEME: "internet-facing"} if internet_facing else {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": {**scheme, **(annotations or {})}},
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


async def create_node_port_service(kube: KubeClient, namespace: str, name: str) -> int:
    """A NodePort Service (port 80 -> 8080); returns the NodePort the API server allocated."""
    created = await kube.create(
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "type": "NodePort",
                "selector": {"app": name},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
        namespace,
    )
    return int(created["spec"]["ports"][0]["nodePort"])


def target_group_binding_manifest(
    name: str, service: str, tg_arn: str, source_sg: str, ports: list[int], target_type: str = "instance"
) -> dict[str, Any]:
    """A TargetGroupBinding letting ``source_sg`` reach ``ports`` over TCP."""
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name},
        "spec": {
            "targetGroupARN": tg_arn,
            "targetType": target_type,
            "serviceRef": {"name": service, "port": 80},
            "networking": {
                "ingress": [
                    {
                        "from": [{"securityGroup": {"groupID": source_sg}}],
                        "ports": [{"protocol": "TCP", "port": port} for port in ports],
                    }
                ]
            },
        },
    }


def endpoint_slice_manifest(service: str, pod: str, namespace: str, pod_ip: str) -> dict[str, Any]:
    """The EndpointSlice the endpoint-slice controller would write: one ready pod on port 8080."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-abcde", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [pod_ip],
                "conditions": {"ready": True},
                "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace},
            }
        ],
    }


async def report_pod_running(kube: KubeClient, namespace: str, pod: dict[str, Any], pod_ip: str) -> None:
    """Write the status a kubelet would for a started pod: Running, Ready, at ``pod_ip``."""
    pod["status"] = {
        "phase": "Running",
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    await kube.request("PUT", PODS.object_path(pod["metadata"]["name"], namespace) + "/status", body=pod)


async def load_balancer_hostname(
    kube: KubeClient, resource: Resource, namespace: str, name: str
) -> str | None:
    """The hostname an Ingress or Service status publishes, or None while there is none."""
    found = await kube.get(resource, name, namespace)
    entries = (found.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    hostname = entries[0].get("hostname") if entries else None
    return str(hostname) if hostname else None


async def namespace_events(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    listed = await kube.request("GET", EVENTS_PATH.format(namespace=namespace))
    items: list[dict[str, Any]] = listed.get("items", [])
    return items


async def target_group_bindings(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    listed = await kube.list(TARGET_GROUP_BINDINGS, namespace)
    items: list[dict[str, Any]] = listed.get("items", [])
    return items


# ---- AWS --------------------------------------------------------------------------------------


async def create_security_group(aws: AwsClient, vpc_id: str, group_name: str, tags: dict[str, str]) -> str:
    extra: dict[str, Any] = {}
    if tags:  # AWS rejects a tag specification without tags
        extra["TagSpecifications"] = [
            {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    created = await aws.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName=group_name,
        Description=f"pre-created {group_name}",
        VpcId=vpc_id,
        **extra,
    )
    return str(created["GroupId"])


async def describe_security_group(aws: AwsClient, group_id: str) -> dict[str, Any] | None:
    """The SG, or None once it no longer exists."""
    groups = await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "group-id", "Values": [group_id]}],
    )
    return groups[0] if groups else None


async def security_groups_named(aws: AwsClient, vpc_id: str, name: str) -> list[dict[str, Any]]:
    return await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}],
    )


async def security_groups_tagged(aws: AwsClient, vpc_id: str, key: str, value: str) -> list[dict[str, Any]]:
    return await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": f"tag:{key}", "Values": [value]}],
    )


async def cluster_tagged_security_groups(aws: AwsClient, cluster_name: str) -> list[dict[str, Any]]:
    """Every SG carrying our cluster tracking tag (managed and backend SGs)."""
    return await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "tag:elbv2.k8s.aws/cluster", "Values": [cluster_name]}],
    )


async def security_groups_of_cluster(aws: AwsClient, cluster_name: str) -> list[str]:
    """Sorted ids of every SG carrying our cluster tracking tag."""
    return sorted(str(g["GroupId"]) for g in await cluster_tagged_security_groups(aws, cluster_name))


async def ingress_rules(aws: AwsApi, group_id: str) -> list[dict[str, Any]]:
    described = await aws.call("ec2", "DescribeSecurityGroups", GroupIds=[group_id])
    permissions: list[dict[str, Any]] = described["SecurityGroups"][0].get("IpPermissions", [])
    return permissions


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


async def create_target_group(aws: AwsClient, vpc_id: str, name: str, target_type: str = "instance") -> str:
    """A TCP target group: port 80 for instance targets, 8080 for pod IPs."""
    created = await aws.call(
        "elbv2",
        "CreateTargetGroup",
        Name=name,
        Protocol="TCP",
        Port=8080 if target_type == "ip" else 80,
        VpcId=vpc_id,
        TargetType=target_type,
    )
    return str(created["TargetGroups"][0]["TargetGroupArn"])


async def registered_targets(aws: AwsClient, tg_arn: str) -> set[tuple[str, int]]:
    health = await aws.call("elbv2", "DescribeTargetHealth", TargetGroupArn=tg_arn)
    return {(d["Target"]["Id"], int(d["Target"]["Port"])) for d in health["TargetHealthDescriptions"]}


def mutating_operations(proxy: AwsProxy) -> list[str]:
    return [r.operation for r in proxy.request_log if r.operation.startswith(MUTATING_PREFIXES)]


# ---- reading inbound rules --------------------------------------------------------------------


def cidr_rules(permissions: list[dict[str, Any]]) -> set[Rule]:
    """Every CIDR-sourced rule, one per source (AWS groups several sources in one permission)."""
    rules: set[Rule] = set()
    for permission in permissions:
        key = (str(permission["IpProtocol"]), int(permission["FromPort"]), int(permission["ToPort"]))
        rules |= {(*key, str(r["CidrIp"])) for r in permission.get("IpRanges", [])}
        rules |= {(*key, str(r["CidrIpv6"])) for r in permission.get("Ipv6Ranges", [])}
    return rules


def labelled_group_rules(permissions: list[dict[str, Any]]) -> set[Rule]:
    """Rules carrying our label whose source is a security group."""
    return {
        (
            str(permission["IpProtocol"]),
            int(permission["FromPort"]),
            int(permission["ToPort"]),
            str(pair["GroupId"]),
        )
        for permission in permissions
        for pair in permission.get("UserIdGroupPairs", [])
        if pair.get("Description") == TGB_RULE_DESCRIPTION
    }


def packed(rules: set[Rule]) -> set[Rule]:
    """``rules`` as the controller writes them: adjacent or overlapping port ranges with the same
    protocol and source are one rule (randomly allocated NodePorts are sometimes neighbours)."""
    by_key: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for protocol, from_port, to_port, source in rules:
        by_key.setdefault((protocol, source), []).append((from_port, to_port))
    merged: set[Rule] = set()
    for (protocol, source), ranges in by_key.items():
        ranges.sort()
        start, end = ranges[0]
        for low, high in ranges[1:]:
            if low <= end + 1:
                end = max(end, high)
                continue
            merged.add((protocol, start, end, source))
            start, end = low, high
        merged.add((protocol, start, end, source))
    return merged


async def labelled_node_rules(aws: AwsClient, node_sg: str) -> set[NodeRule]:
    """Our SG-sourced rules on the node SG as (source SG, protocol, from port, to port)."""
    return {
        (source, protocol, from_port, to_port)
        for protocol, from_port, to_port, source in labelled_group_rules(await ingress_rules(aws, node_sg))
    }


async def labelled_node_sources(
    aws: AwsClient, cluster: SandboxCluster, *, count_cidr_sources: bool
) -> list[dict[str, Any]]:
    """Every source entry on the node SG carrying our label: SG pairs, and CIDRs if asked."""
    return [
        source
        for permission in await ingress_rules(aws, cluster.node_security_group_id)
        for source in [
            *permission.get("UserIdGroupPairs", []),
            *(permission.get("IpRanges", []) if count_cidr_sources else []),
        ]
        if source.get("Description") == TGB_RULE_DESCRIPTION
    ]


def nlb_service_manifest(name: str, port_name: str = "tcp") -> dict[str, Any]:
    """An internet-facing NLB Service (``loadBalancerClass: service.k8s.aws/nlb``), port 80 → 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "selector": {"app": name},
            "ports": [{"name": port_name, "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }


# ---- Gateway API ---------------------------------------------------------------------------------

GATEWAY_API = "gateway.networking.k8s.io/v1"
LBC_GATEWAY_API = "gateway.k8s.aws/v1"


def gateway_class_manifest(name: str, controller: str, config_namespace: str, config: str) -> dict[str, Any]:
    """A GatewayClass for ``controller`` (``gateway.k8s.aws/alb``...) whose LoadBalancerConfiguration is ``config``."""
    return {
        "apiVersion": GATEWAY_API,
        "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {
            "controllerName": controller,
            "parametersRef": {
                "group": "gateway.k8s.aws",
                "kind": "LoadBalancerConfiguration",
                "name": config,
                "namespace": config_namespace,
            },
        },
    }


def lb_configuration_manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A LoadBalancerConfiguration; internet-facing unless ``scheme`` is given (the sandbox's subnets
    are tagged for public load balancers only)."""
    return {
        "apiVersion": LBC_GATEWAY_API,
        "kind": "LoadBalancerConfiguration",
        "metadata": {"name": name},
        "spec": {"scheme": "internet-facing", **spec},
    }


def gateway_manifest(
    name: str, gateway_class: str, listeners: list[dict[str, Any]], config: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"gatewayClassName": gateway_class, "listeners": listeners}
    if config is not None:
        spec["infrastructure"] = {
            "parametersRef": {"group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration", "name": config}
        }
    return {"apiVersion": GATEWAY_API, "kind": "Gateway", "metadata": {"name": name}, "spec": spec}


def route_manifest(
    kind: str, name: str, gateway: str, service: str, port: int, *, path: str | None = None
) -> dict[str, Any]:
    """An HTTPRoute (with a path prefix when given), TCPRoute or UDPRoute to ``service``:``port``."""
    rule: dict[str, Any] = {"backendRefs": [{"name": service, "port": port}]}
    if path is not None:
        rule["matches"] = [{"path": {"type": "PathPrefix", "value": path}}]
    return {
        "apiVersion": GATEWAY_API,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"parentRefs": [{"name": gateway}], "rules": [rule]},
    }


async def create_udp_node_port_service(kube: KubeClient, namespace: str, name: str) -> int:
    """A NodePort Service with one UDP port (53 -> 5353); returns its NodePort."""
    created = await kube.create(
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "type": "NodePort",
                "selector": {"app": name},
                "ports": [{"port": 53, "targetPort": 5353, "protocol": "UDP"}],
            },
        },
        namespace,
    )
    return int(created["spec"]["ports"][0]["nodePort"])


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type ``kind`` (None when absent)."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == kind), None)
