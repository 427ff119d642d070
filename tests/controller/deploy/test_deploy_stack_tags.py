"""The stack identity (``StackTags``) is built once, by the reconciler, and carried on the model:
the deployer tags, finds and renders the stack's resources by the model's stack tags, never by an
identity of its own derived from the model's kind and id."""

from __future__ import annotations

from deploy_factories import (
    DeployerFactory,
    build_alb_model,
    describe_sg,
    elbv2_tags,
    ingress,
    stack_leftovers,
    tags_of,
)

from controller.aws.api import AwsApi
from controller.ingress import IngressGroupId
from controller.ingress.builder import LOAD_BALANCER_RESOURCE_ID
from controller.ingress.reconciler import ingress_group_stack_tags
from controller.naming import INGRESS_TAG_PREFIX, MANAGED_SG_RESOURCE_ID, StackTags
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


async def test_a_model_built_with_given_stack_tags_deploys_resources_tagged_exactly_so(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    make_deployer: DeployerFactory,
    backend_sg: str,
    sandbox_vpc: SandboxVpc,
) -> None:
    # The Ingress is default/web; the stack tags handed to the builder name another stack.
    pinned = StackTags(sandbox_vpc.cluster_name, INGRESS_TAG_PREFIX, "pinned-group")
    model = await build_alb_model(ingress(), stack=pinned)
    assert model.stack_tags is pinned
    deployer = make_deployer()

    first = await deployer.deploy(model, backend_sg_id=backend_sg)

    assert first.managed_sg_id is not None
    assert tags_of(await describe_sg(aws_api, first.managed_sg_id)) == pinned.resource_tags(
        MANAGED_SG_RESOURCE_ID
    )
    assert await elbv2_tags(aws_api, first.lb_arn) == pinned.resource_tags(LOAD_BALANCER_RESOURCE_ID)
    assert first.target_group_arns
    for resource_id, arn in first.target_group_arns.items():
        assert await elbv2_tags(aws_api, arn) == pinned.resource_tags(resource_id)
    assert [tgb["metadata"]["labels"] for tgb in first.tgb_specs] == [
        {"ingress.k8s.aws/stack": "pinned-group"}
    ]
    derived = ingress_group_stack_tags(sandbox_vpc.cluster_name, IngressGroupId.implicit("default", "web"))
    assert await stack_leftovers(aws_api, derived) == []

    # The next deploy finds every resource by the same tags: nothing is created or deleted.
    aws_proxy.reset_counts()
    again = await deployer.deploy(model, backend_sg_id=backend_sg)
    assert (again.lb_arn, again.managed_sg_id, again.target_group_arns) == (
        first.lb_arn,
        first.managed_sg_id,
        first.target_group_arns,
    )
    assert again.deleted.is_empty
    assert not [op for op in aws_proxy.calls_by_operation() if op.startswith(("Create", "Delete"))]

    # And the reconciler's deletion, which has no model, passes the same tags.
    deleted = await deployer.delete_stack(pinned)
    assert deleted.load_balancer_arns == (first.lb_arn,)
    assert await stack_leftovers(aws_api, pinned) == []
