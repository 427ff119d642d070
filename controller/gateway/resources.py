"""The Kubernetes resources of the Gateway feature: Gateway API kinds and upstream's gateway.k8s.aws CRDs."""

from __future__ import annotations

from typing import Final

from framework.kube import Resource

GATEWAY_API_GROUP: Final = "gateway.networking.k8s.io"
GATEWAY_API_VERSION: Final = "v1"
LBC_GATEWAY_GROUP: Final = "gateway.k8s.aws"
LBC_GATEWAY_VERSION: Final = "v1"

ALB_CONTROLLER_NAME: Final = "gateway.k8s.aws/alb"
"""``spec.controllerName`` of a GatewayClass whose Gateways become ALBs."""
NLB_CONTROLLER_NAME: Final = "gateway.k8s.aws/nlb"
"""``spec.controllerName`` of a GatewayClass whose Gateways become NLBs."""

GATEWAY_CLASSES: Final = Resource(
    GATEWAY_API_GROUP, GATEWAY_API_VERSION, "gatewayclasses", "GatewayClass", namespaced=False
)
GATEWAYS: Final = Resource(GATEWAY_API_GROUP, GATEWAY_API_VERSION, "gateways", "Gateway")
HTTP_ROUTES: Final = Resource(GATEWAY_API_GROUP, GATEWAY_API_VERSION, "httproutes", "HTTPRoute")
GRPC_ROUTES: Final = Resource(GATEWAY_API_GROUP, GATEWAY_API_VERSION, "grpcroutes", "GRPCRoute")
TCP_ROUTES: Final = Resource(GATEWAY_API_GROUP, GATEWAY_API_VERSION, "tcproutes", "TCPRoute")
UDP_ROUTES: Final = Resource(GATEWAY_API_GROUP, GATEWAY_API_VERSION, "udproutes", "UDPRoute")
TLS_ROUTES: Final = Resource(GATEWAY_API_GROUP, GATEWAY_API_VERSION, "tlsroutes", "TLSRoute")
LOAD_BALANCER_CONFIGURATIONS: Final = Resource(
    LBC_GATEWAY_GROUP, LBC_GATEWAY_VERSION, "loadbalancerconfigurations", "LoadBalancerConfiguration"
)
TARGET_GROUP_CONFIGURATIONS: Final = Resource(
    LBC_GATEWAY_GROUP, LBC_GATEWAY_VERSION, "targetgroupconfigurations", "TargetGroupConfiguration"
)
LISTENER_RULE_CONFIGURATIONS: Final = Resource(
    LBC_GATEWAY_GROUP, LBC_GATEWAY_VERSION, "listenerruleconfigurations", "ListenerRuleConfiguration"
)

ALB_ROUTES: Final = (HTTP_ROUTES, GRPC_ROUTES)
NLB_ROUTES: Final = (TCP_ROUTES, UDP_ROUTES, TLS_ROUTES)
