"""Fixtures for the deploy tests: a stack deployer against moto behind the AWS-like proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from deploy_factories import DeployerFactory

from controller.aws.api import AwsApi
from controller.deploy import DependencyViolationHook, StackDeployer
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.seed import SandboxVpc
from framework.clock import FakeClock


@pytest_asyncio.fixture
async def deploy_reader(aws_api: AwsApi) -> AsyncIterator[SecurityGroupReader]:
    reader = SecurityGroupReader(aws_api, clock=FakeClock())
    yield reader
    await reader.aclose()


@pytest_asyncio.fixture
async def make_deployer(
    aws_api: AwsApi, deploy_reader: SecurityGroupReader, sandbox_vpc: SandboxVpc
) -> DeployerFactory:
    def factory(
        *,
        external_managed_tags: tuple[str, ...] = (),
        on_dependency_violation: DependencyViolationHook | None = None,
    ) -> StackDeployer:
        return StackDeployer(
            aws_api,
            deploy_reader,
            cluster_name=sandbox_vpc.cluster_name,
            vpc_id=sandbox_vpc.vpc_id,
            external_managed_tags=external_managed_tags,
            on_dependency_violation=on_dependency_violation,
            requeue_after=7.0,
        )

    return factory


@pytest_asyncio.fixture
async def backend_sg(aws_api: AwsApi, deploy_reader: SecurityGroupReader, sandbox_vpc: SandboxVpc) -> str:
    """A stand-in for the cluster's shared backend SG (its lifecycle is not the deployer's job)."""
    return await SecurityGroupManager(aws_api, deploy_reader).create(
        name="k8s-traffic-sandboxcluster-test",
        description="backend",
        vpc_id=sandbox_vpc.vpc_id,
        tags={"Name": "backend"},
    )
