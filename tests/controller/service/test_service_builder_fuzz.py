"""Whatever the annotations say, the NLB builder returns a model or raises a ``ModelBuildError``."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_factories import FakeResolver, lb_service, make_config, port, stack_of

from controller import annotations as keys
from controller.annotations import ModelBuildError
from controller.model import Scheme
from controller.service import ExistingLoadBalancer, ServiceModelBuilder

SERVICE_KEYS = [
    keys.SVC_LOAD_BALANCER_TYPE,
    keys.SVC_NLB_TARGET_TYPE,
    keys.SVC_SCHEME,
    keys.SVC_INTERNAL,
    keys.SVC_SECURITY_GROUPS,
    keys.SVC_MANAGE_BACKEND_SG_RULES,
    keys.SVC_SOURCE_RANGES,
    keys.SVC_PREFIX_LISTS,
    keys.SVC_IP_ADDRESS_TYPE,
    keys.SVC_ICMP_PATH_MTU,
    keys.SVC_HEALTHCHECK_PORT,
    keys.SVC_HEALTHCHECK_PROTOCOL,
    keys.SVC_HEALTHCHECK_INTERVAL,
    keys.SVC_HEALTHCHECK_TIMEOUT,
    keys.SVC_HEALTHCHECK_HEALTHY_THRESHOLD,
    keys.SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD,
    keys.SVC_HEALTHCHECK_SUCCESS_CODES,
    keys.SVC_LOAD_BALANCER_ATTRIBUTES,
    keys.SVC_CROSS_ZONE_ENABLED,
    keys.SVC_ACCESS_LOG_ENABLED,
    keys.SVC_ADDITIONAL_TAGS,
    keys.SVC_DISABLE_NLB_SG,
    keys.SVC_SUBNETS,
    keys.SVC_LOAD_BALANCER_NAME,
    keys.SVC_TARGET_GROUP_ATTRIBUTES,
    keys.SVC_TARGET_GROUP_ATTRIBUTES + ".80",
]
PLAUSIBLE = st.sampled_from(
    ["", "on", "true", "false", "ip", "instance", "nlb-ip", "external", "dualstack", "internet-facing", "http",
     "8080", "traffic-port", "HTTP", "10.0.0.0/8", "2001:db8::/32", "sg-1, web", "a=b", "pl-1",
     "preserve_client_ip.enabled=true", "preserve_client_ip.enabled=maybe", "10", "200-399", "1"]
)  # fmt: skip
annotation_maps = st.dictionaries(st.sampled_from(SERVICE_KEYS), PLAUSIBLE | st.text(max_size=20), max_size=7)
existing = st.none() | st.builds(
    ExistingLoadBalancer, st.sampled_from([(), ("sg-1",)]), st.sampled_from(Scheme)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotation_maps, existing, st.booleans(), st.sampled_from(["TCP", "UDP"]))
def test_service_builder_only_raises_model_build_errors(
    annotations: dict[str, str], existing_lb: ExistingLoadBalancer | None, gate: bool, protocol: str
) -> None:
    config = make_config(feature_gates={"NLBSecurityGroup": gate})
    builder = ServiceModelBuilder(config, FakeResolver({"web": ["sg-web"]}))
    svc = lb_service(
        annotations=annotations, ports=[port(80, protocol, target="http", node_port=31080, name="http")]
    )
    try:
        model = asyncio.run(builder.build(svc, stack_of(svc, config), existing_lb))
    except ModelBuildError as error:
        assert str(error)
        return
    assert model is not None and len(model.listeners) == 1
