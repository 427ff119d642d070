"""Tag reconcile and create/find/delete of SGs we own, against moto behind the proxy."""

from __future__ import annotations

import pytest
from sg_test_helpers import authorize_directly, create_sg, mutating_operations

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.deploy.sg_index import StackSecurityGroupIndex
from controller.naming import (
    BACKEND_SG_DESCRIPTION,
    INGRESS_TAG_PREFIX,
    MANAGED_SG_RESOURCE_ID,
    StackTags,
    backend_sg_name,
    backend_sg_tags,
)
from controller.networking.rules import Rule, SecurityGroupSource
from controller.networking.sg_manager import (
    SecurityGroupManager,
    UnexpectedSecurityGroupError,
    stack_security_groups,
)
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.tags import (
    managed_sg_ignored_tag_keys,
    plan_tag_changes,
    reconcile_security_group_tags,
)
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


@pytest.fixture
def manager(aws_api: AwsApi, sg_reader: SecurityGroupReader) -> SecurityGroupManager:
    return SecurityGroupManager(aws_api, sg_reader)


def test_plan_tag_changes_spares_aws_and_ignored_keys() -> None:
    plan = plan_tag_changes(
        desired={"a": "1", "b": "2", "aws:x": "new", "ext": "mine"},
        current={"a": "1", "b": "old", "c": "3", "aws:cloudformation:stack-name": "s", "ext": "theirs"},
        ignored_keys={"ext"},
    )
    assert dict(plan.to_set) == {"b": "2"}
    assert plan.to_delete == ("c",)


async def test_scenario_7_tag_reconcile_spares_aws_external_and_legacy_keys(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    """Scenario 7 (upstream-behaviour §10): Existing managed SG with extra tags ``foo=bar`` and
    ``aws:cloudformation:stack-name`` → updated → ``foo`` deleted, the ``aws:`` tag kept; a key in
    ``--external-managed-tags`` is kept too."""
    cluster = sandbox_vpc.cluster_name
    current = {
        "elbv2.k8s.aws/cluster": cluster,
        "ingress.k8s.aws/stack": "default/old",
        "foo": "bar",
        "team": "ops",
        f"kubernetes.io/cluster/{cluster}": "owned",
        "ingress.k8s.aws/cluster": cluster,
        "kubernetes.io/ingress-name": "web",
    }
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed", current)
    # A tag only AWS itself can set (no caller may use the aws: prefix).
    await aws_proxy.tag_as_aws(group_id, {"aws:cloudformation:stack-name": "infra"})
    desired = {"elbv2.k8s.aws/cluster": cluster, "ingress.k8s.aws/stack": "default/web", "env": "prod"}
    aws_proxy.reset_counts()

    plan = await reconcile_security_group_tags(
        aws_api,
        sg_reader,
        group_id,
        desired,
        ignored_keys=managed_sg_ignored_tag_keys(cluster, ["team"]),
    )

    assert dict(plan.to_set) == {"ingress.k8s.aws/stack": "default/web", "env": "prod"}
    assert plan.to_delete == ("foo",)
    assert mutating_operations(aws_proxy) == ["CreateTags", "DeleteTags"]
    tags = dict((await sg_reader.get(group_id)).tags)
    assert tags == {
        "elbv2.k8s.aws/cluster": cluster,
        "ingress.k8s.aws/stack": "default/web",
        "env": "prod",
        "team": "ops",
        "aws:cloudformation:stack-name": "infra",
        f"kubernetes.io/cluster/{cluster}": "owned",
        "ingress.k8s.aws/cluster": cluster,
        "kubernetes.io/ingress-name": "web",
    }

    aws_proxy.reset_counts()
    again = await reconcile_security_group_tags(
        aws_api, sg_reader, group_id, desired, ignored_keys=managed_sg_ignored_tag_keys(cluster, ["team"])
    )
    assert again.is_empty
    assert mutating_operations(aws_proxy) == []


async def test_scenario_30_backend_sg_is_found_by_tags_and_its_tags_reset(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    manager: SecurityGroupManager,
) -> None:
    """Scenario 30 (upstream-behaviour §10): A VPC SG tagged ``elbv2.k8s.aws/cluster=<c>``,
    ``elbv2.k8s.aws/resource=backend-sg`` exists → Get → reused (no CreateSecurityGroup), its non-``aws:``
    tags reset to default tags + the two tracking tags."""
    cluster = sandbox_vpc.cluster_name
    first = await manager.create(
        name=backend_sg_name(cluster),
        description=BACKEND_SG_DESCRIPTION,
        vpc_id=sandbox_vpc.vpc_id,
        tags={"a-default": "1", **backend_sg_tags(cluster)},
    )
    await create_sg(aws_api, sandbox_vpc.vpc_id, "second", {**backend_sg_tags(cluster), "stray": "x"})
    other_vpc = (await aws_api.call("ec2", "CreateVpc", CidrBlock="10.1.0.0/16"))["Vpc"]["VpcId"]
    await create_sg(aws_api, other_vpc, "elsewhere", backend_sg_tags(cluster))
    await create_sg(aws_api, sandbox_vpc.vpc_id, "other-cluster", backend_sg_tags("other"))

    found = await manager.find_by_tags(vpc_id=sandbox_vpc.vpc_id, tags=backend_sg_tags(cluster))
    assert len(found) == 2
    first_found = await manager.find_first_by_tags(vpc_id=sandbox_vpc.vpc_id, tags=backend_sg_tags(cluster))
    assert first_found is not None and first_found == found[0]
    info = next(sg for sg in found if sg.group_id == first)
    assert (info.group_name, info.description) == (backend_sg_name(cluster), BACKEND_SG_DESCRIPTION)
    assert dict(info.tags) == {"a-default": "1", **backend_sg_tags(cluster)}

    # The backend SG's tags are reset to exactly default tags + tracking tags (only aws:* spared).
    stray = next(sg for sg in found if sg.group_id != first)
    await reconcile_security_group_tags(
        aws_api, sg_reader, stray.group_id, {"a-default": "1", **backend_sg_tags(cluster)}, current=stray.tags
    )
    assert dict((await sg_reader.get(stray.group_id)).tags) == {"a-default": "1", **backend_sg_tags(cluster)}
    assert await manager.find_by_tags(vpc_id=sandbox_vpc.vpc_id, tags={"no": "such"}) == []


async def test_stack_lookup_unions_current_and_legacy_tags_and_keeps_the_first_per_resource(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    stack = StackTags(sandbox_vpc.cluster_name, INGRESS_TAG_PREFIX, "default/web")
    resource_key = "ingress.k8s.aws/resource"
    current = await create_sg(
        aws_api, sandbox_vpc.vpc_id, "current", stack.resource_tags(MANAGED_SG_RESOURCE_ID)
    )
    legacy = await create_sg(
        aws_api,
        sandbox_vpc.vpc_id,
        "legacy",
        {**stack.legacy_tracking_tags(), resource_key: MANAGED_SG_RESOURCE_ID},
    )
    other = await create_sg(
        aws_api, sandbox_vpc.vpc_id, "other", {**stack.tracking_tags(), resource_key: "SomethingElse"}
    )

    # The same stack id in another cluster sharing the VPC is not ours, under either cluster tag.
    elsewhere = StackTags("other-cluster", INGRESS_TAG_PREFIX, "default/web")
    await create_sg(aws_api, sandbox_vpc.vpc_id, "elsewhere", elsewhere.resource_tags("Elsewhere"))
    await create_sg(
        aws_api,
        sandbox_vpc.vpc_id,
        "elsewhere-legacy",
        {**elsewhere.legacy_tracking_tags(), resource_key: "ElsewhereLegacy"},
    )
    index = StackSecurityGroupIndex(sg_reader, vpc_id=sandbox_vpc.vpc_id)
    aws_proxy.reset_counts()

    result = stack_security_groups(await index.candidates(stack), stack)

    assert result.by_resource_id[MANAGED_SG_RESOURCE_ID].group_id == current
    assert result.by_resource_id["SomethingElse"].group_id == other
    assert set(result.by_resource_id) == {MANAGED_SG_RESOURCE_ID, "SomethingElse"}
    assert [sg.group_id for sg in result.duplicates] == [legacy]
    # Both lookups in one query (the index's scan).
    assert aws_proxy.calls_by_operation() == {"DescribeSecurityGroups": 1}

    # The same on the per-stack query an invalidated stack makes.
    await create_sg(aws_api, sandbox_vpc.vpc_id, "untagged-resource", stack.tracking_tags())
    index.invalidate(stack)
    with pytest.raises(UnexpectedSecurityGroupError, match="unexpected securityGroup with no resourceID"):
        stack_security_groups(await index.candidates(stack), stack)


async def test_delete_reports_gone_groups_and_propagates_dependency_violation(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, manager: SecurityGroupManager
) -> None:
    frontend = await create_sg(aws_api, sandbox_vpc.vpc_id, "frontend")
    node = await create_sg(aws_api, sandbox_vpc.vpc_id, "node")
    await authorize_directly(aws_api, node, Rule.of("tcp", 80, 80, SecurityGroupSource(frontend)))

    with pytest.raises(AwsApiError) as raised:
        await manager.delete(frontend)  # still referenced by the node SG's rule
    assert raised.value.code == "DependencyViolation"

    assert await manager.delete(node) is True
    assert await manager.delete(frontend) is True
    assert await manager.delete(frontend) is False
