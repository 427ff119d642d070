"""open_aws_client: endpoint and region from the environment, the standard credential chain, pool size."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import AwsClient, open_aws_client
from controller.aws.settings import AwsSettings
from controller.sandbox.proxy import AwsProxy


async def test_environment_endpoint_and_standard_credential_chain(
    aws_proxy: AwsProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    settings = AwsSettings.resolve(environ={"AWS_REGION": "eu-central-1", "AWS_ENDPOINT_URL": aws_proxy.url})
    assert settings.credentials is None  # the chain, not explicit keys

    async with open_aws_client(settings, CollectorRegistry()) as aws:
        await aws.call("ec2", "DescribeVpcs")

    record = aws_proxy.request_log[-1]
    assert record.operation == "DescribeVpcs"
    assert record.status == 200
    assert record.region == "eu-central-1"


async def test_client_uses_the_configured_pool_size(aws_proxy: AwsProxy) -> None:
    settings = AwsSettings(region="us-west-2", endpoint_url=aws_proxy.url, max_pool_connections=77)
    async with open_aws_client(settings, CollectorRegistry()) as aws:
        api: AwsApi = aws  # AwsClient satisfies the seam the rest of the controller uses
        assert isinstance(api, AwsClient)
        for client in aws._clients.values():
            assert client.meta.config.max_pool_connections == 77
            assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
