from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from controller import flagtypes
from controller.config import ConfigError, ControllerSettings, build_parser, parse_config, validate
from controller.flagtypes import (
    format_duration,
    parse_bool,
    parse_duration,
    parse_string_list,
    parse_string_map,
    show_default,
)


def test_defaults_match_upstream() -> None:
    config = parse_config(["--cluster-name=my-cluster"])
    assert config.enable_backend_security_group is True
    assert config.backend_security_group == ""
    assert config.enable_manage_backend_security_group_rules is False
    assert config.disable_restricted_sg_rules is False
    assert config.max_port_ranges_per_source == 8
    assert config.sg_rules_quota == 60  # AWS's default rules-per-security-group quota
    assert config.ingress_class == "alb"
    assert config.load_balancer_class == "service.k8s.aws/nlb"
    assert config.default_target_type == "instance"
    assert config.default_load_balancer_scheme == "internal"
    assert config.aws_max_retries == 10
    assert config.targetgroupbinding_max_exponential_backoff_delay == 1000.0
    assert config.targetgroupbinding_requeue_duration == 15.0
    assert config.sync_period == 36000.0
    assert config.enable_leader_election is True
    assert config.leader_election_id == "aws-load-balancer-controller-leader"
    assert config.metrics_bind_addr == ":8080"
    assert config.health_probe_bind_addr == ":61779"
    assert config.feature_enabled("NLBSecurityGroup")
    assert not config.feature_enabled("EnableDefaultTagsLowPriority")


def test_the_gateway_gates_default_on_and_record_only_what_the_user_set() -> None:
    """Upstream's defaults; whether a gate was set or defaulted decides whether CRD detection may
    turn it off, so only gates given on the command line are in ``feature_gates``."""
    defaulted = parse_config(["--cluster-name=c"])
    assert defaulted.feature_enabled("ALBGatewayAPI") and defaulted.feature_enabled("NLBGatewayAPI")
    assert dict(defaulted.feature_gates) == {}

    config = parse_config(["--cluster-name=c", "--feature-gates=ALBGatewayAPI=false,NLBGatewayAPI=true"])
    assert dict(config.feature_gates) == {"ALBGatewayAPI": False, "NLBGatewayAPI": True}
    assert not config.feature_enabled("ALBGatewayAPI") and config.feature_enabled("NLBGatewayAPI")
    help_text = " ".join(build_parser().format_help().split())
    assert "ALBGatewayAPI, NLBGatewayAPI" in help_text


def test_go_style_flags_are_accepted() -> None:
    config = parse_config(
        [
            "--cluster-name",
            "c",
            "--enable-backend-security-group=false",
            "--disable-restricted-sg-rules",
            "--default-tags=team=a,env=prod",
            "--external-managed-tags=owner, cost-center",
            "--sync-period=1h30m",
            "--feature-gates=EnableDefaultTagsLowPriority=true",
            "--service-target-eni-security-group-tags=k=v",
        ]
    )
    assert config.enable_backend_security_group is False
    assert config.disable_restricted_sg_rules is True
    assert dict(config.default_tags) == {"team": "a", "env": "prod"}
    assert config.external_managed_tags == ("owner", "cost-center")
    assert config.sync_period == 5400.0
    assert config.feature_enabled("EnableDefaultTagsLowPriority")
    assert dict(config.service_target_eni_security_group_tags) == {"k": "v"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "cluster name must be specified"),
        (["--cluster-name=c", "--backend-security-group=foo"], "must start with sg-"),  # scenario 35
        (
            [
                "--cluster-name=c",
                "--enable-backend-security-group=false",
                "--enable-manage-backend-security-group-rules",
            ],
            "backend security group must be enabled",
        ),
        (["--cluster-name=c", "--default-tags=elbv2.k8s.aws/cluster=x"], "reserved for tracking"),
        (["--cluster-name=c", "--external-managed-tags=ingress.k8s.aws/stack"], "reserved for tracking"),
        (["--cluster-name=c", "--default-tags=a=1", "--external-managed-tags=a"], "cannot be both"),
        (
            ["--cluster-name=c", "--default-tags=team=two\nlines"],
            "invalid --default-tags: the value of tag key 'team' contains '\\n', which ELBv2 does not allow",
        ),
        (
            ["--cluster-name=c", "--default-tags=aws:owner=me"],
            "invalid --default-tags: tag key 'aws:owner' starts with 'aws:', which AWS reserves",
        ),
        (
            ["--cluster-name=c", "--default-tags=blob=" + "v" * 102400],
            "invalid --default-tags: the value of tag key 'blob' is 102400 characters long",
        ),
        (["--cluster-name=c", "--max-port-ranges-per-source=0"], "at least 1"),
        (["--cluster-name=c", "--sg-rules-quota=0"], "--sg-rules-quota must be at least 1"),
        (["--cluster-name=c", "--feature-gates=Bogus=true"], "unknown feature gates"),
        (["--cluster-name=c", "--sync-period=10 hours"], "invalid duration value"),
        (["--cluster-name=c", "--enable-leader-election=maybe"], "invalid boolean value"),
    ],
)
def test_invalid_flags_exit_with_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, "one line, without the usage summary"


def test_backend_security_group_id_is_accepted() -> None:
    config = parse_config(["--cluster-name=c", "--backend-security-group=sg-123"])
    validate(config)
    assert config.backend_security_group == "sg-123"
    assert not isinstance(config, ConfigError)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("15s", 15.0), ("16m40s", 1000.0), ("10h", 36000.0), ("1.5h", 5400.0), ("500ms", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "10", "1d", "5 s", "s5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_helpers() -> None:
    assert parse_bool("T") is True
    assert parse_bool("0") is False
    with pytest.raises(ValueError):
        parse_bool("yes")
    assert parse_string_map("") == {}
    with pytest.raises(ValueError, match="invalid key=value"):
        parse_string_map("novalue")
    assert parse_string_list(" a, ,b ") == ("a", "b")


def test_every_flag_has_a_description_and_shows_its_default() -> None:
    parser = build_parser()
    help_text = parser.format_help()
    # Each flag's entry starts on a new line indented by two spaces; its help wraps below it.
    entries = {chunk.split()[0]: " ".join(chunk.split()) for chunk in re.split(r"\n  (?=-)", help_text)[1:]}
    text = " ".join(help_text.split())
    flags = [action for action in parser._actions if action.default is not argparse.SUPPRESS]
    assert len(flags) >= 30
    for action in flags:
        assert action.help and action.help.strip(), f"{action.option_strings} has no description"
        flag = action.option_strings[-1]
        entry = entries[flag]
        assert entry.endswith(f"(default: {show_default(action)})"), f"{flag}: {entry!r}"
    assert "--sync-period SYNC_PERIOD Period at which" in text
    assert "(default: 10h0m0s)" in text and "(default: 16m40s)" in text  # Go duration syntax
    assert "--enable-leader-election [ENABLE_LEADER_ELECTION] Elect" in text and "(default: true)" in text


def test_every_field_is_exactly_one_flag_and_the_parser_defaults_are_the_dataclass_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Defaults read from the environment are read when the parser is built, like the dataclass's.
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("KUBECONFIG", "/etc/kubeconfig")
    parser = build_parser()
    options = [action for action in parser._actions if action.default is not argparse.SUPPRESS]
    fields = dataclasses.fields(ControllerSettings)
    assert [action.dest for action in options] == [field.name for field in fields]
    for action, field in zip(options, fields, strict=True):
        assert action.option_strings == ["--" + field.name.replace("_", "-")]
    assert ControllerSettings(**vars(parser.parse_args([]))) == ControllerSettings()
    assert (ControllerSettings().aws_region, ControllerSettings().kubeconfig) == (
        "eu-west-1",
        "/etc/kubeconfig",
    )


def test_a_settings_field_without_a_flag_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Settings:
        named: str = flagtypes.flag("has a flag", default="")
        unnamed: str = ""

    with pytest.raises(TypeError, match="'unnamed' has no flag"):
        flagtypes.add_flags(argparse.ArgumentParser(), Settings)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--metrics-bind-addr", "8080"),
        ("--metrics-bind-addr", "localhost:http"),
        ("--health-probe-bind-addr", ":99999"),
        ("--health-probe-bind-addr", ""),
    ],
)
def test_malformed_bind_addresses_are_one_line_flag_errors(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_config(["--cluster-name=c", f"{flag}={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"aws-lb-sg-controller: error: argument {flag}:")


def test_valid_bind_addresses_are_kept_as_written() -> None:
    config = parse_config(
        ["--cluster-name=c", "--metrics-bind-addr=0", "--health-probe-bind-addr=[::1]:9090"]
    )
    assert (config.metrics_bind_addr, config.health_probe_bind_addr) == ("0", "[::1]:9090")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (0.5, "500ms"), (15, "15s"), (1000, "16m40s"), (36000, "10h0m0s")]
)
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds
