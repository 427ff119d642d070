"""AwsSettings: flags win over the environment; bad values fail at start-up."""

from __future__ import annotations

import dataclasses

import pytest

from controller.aws.settings import AwsSettings, RetrySettings
from controller.aws.throttle import ThrottleRule, ThrottleSettings


def test_region_and_endpoint_come_from_the_environment_when_no_flag() -> None:
    settings = AwsSettings.resolve(environ={"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://x:1"})
    assert settings.region == "eu-west-1"
    assert settings.endpoint_url == "http://x:1"


def test_default_region_variable_is_the_fallback() -> None:
    assert AwsSettings.resolve(environ={"AWS_DEFAULT_REGION": "ap-south-1"}).region == "ap-south-1"


def test_flags_win_over_the_environment() -> None:
    settings = AwsSettings.resolve(
        region="us-east-2",
        endpoint_url="http://flag:2",
        max_retries=3,
        throttle="ec2:^Describe=1:2",
        max_pool_connections=64,
        environ={"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://x:1"},
    )
    assert (settings.region, settings.endpoint_url) == ("us-east-2", "http://flag:2")
    assert settings.retry == RetrySettings(max_retries=3)
    assert ThrottleRule("ec2", "^Describe", 1, 2) in settings.throttle.rules
    assert settings.max_pool_connections == 64


def test_defaults() -> None:
    settings = AwsSettings.resolve(region="us-west-2", environ={})
    assert settings.endpoint_url is None
    assert settings.retry.max_retries == 10
    assert settings.throttle == ThrottleSettings()
    assert settings.credentials is None


def test_missing_region_is_an_error() -> None:
    with pytest.raises(ValueError, match="region"):
        AwsSettings.resolve(environ={})


def test_settings_are_frozen_and_validated() -> None:
    settings = AwsSettings(region="us-west-2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.region = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        AwsSettings(region="us-west-2", attempt_timeout=0)
    with pytest.raises(ValueError):
        RetrySettings(max_retries=-1)
