"""Whatever the annotations say, the builders return a model or raise a ``ModelBuildError``."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingress_factories import (
    FakeResolver,
    FakeServices,
    explicit_group,
    ingress,
    make_config,
    service,
    stack_of,
)

from controller import annotations as keys
from controller.annotations import ModelBuildError
from controller.ingress import IngressModelBuilder

INGRESS_KEYS = [
    keys.ING_LISTEN_PORTS,
    keys.ING_INBOUND_CIDRS,
    keys.ING_PREFIX_LISTS,
    keys.ING_SECURITY_GROUPS,
    keys.ING_MANAGE_BACKEND_SG_RULES,
    keys.ING_SCHEME,
    keys.ING_IP_ADDRESS_TYPE,
    keys.ING_TARGET_TYPE,
    keys.ING_SUBNETS,
    keys.ING_HEALTHCHECK_PORT,
    keys.ING_HEALTHCHECK_PATH,
    keys.ING_HEALTHCHECK_PROTOCOL,
    keys.ING_HEALTHCHECK_INTERVAL_SECONDS,
    keys.ING_HEALTHCHECK_TIMEOUT_SECONDS,
    keys.ING_HEALTHY_THRESHOLD_COUNT,
    keys.ING_UNHEALTHY_THRESHOLD_COUNT,
    keys.ING_SUCCESS_CODES,
    keys.ING_TARGET_GROUP_ATTRIBUTES,
    keys.ING_LOAD_BALANCER_ATTRIBUTES,
    keys.ING_BACKEND_PROTOCOL,
    keys.ING_BACKEND_PROTOCOL_VERSION,
    keys.ING_CERTIFICATE_ARN,
    keys.ING_TAGS,
    keys.ING_LOAD_BALANCER_NAME,
]
PLAUSIBLE = st.sampled_from(
    ["", "true", "ip", "instance", "http", "8080", "traffic-port", "HTTP", "GRPC", "dualstack", "internet-facing",
     '[{"HTTP":80}]', '[{"HTTPS":443},{"HTTP":80}]', "10.0.0.0/8", "2001:db8::/32", "sg-1, web", "a=b", "pl-1", "10", "200-299", "1"]
)  # fmt: skip
annotation_maps = st.dictionaries(st.sampled_from(INGRESS_KEYS), PLAUSIBLE | st.text(max_size=20), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotation_maps, annotation_maps, st.booleans())
def test_ingress_builder_only_raises_model_build_errors(
    first: dict[str, str], second: dict[str, str], backend_sg: bool
) -> None:
    config = make_config(enable_backend_security_group=backend_sg)
    builder = IngressModelBuilder(
        config,
        FakeResolver({"web": ["sg-web"]}),
        FakeServices([service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 32768}])]),
    )
    group = explicit_group("g", ingress("a", annotations=first), ingress("b", annotations=second))
    try:
        model = asyncio.run(builder.build(group, stack_of(group, config)))
    except ModelBuildError as error:
        assert str(error)
        return
    assert model is not None and model.listeners
