"""The stand-in's kubeconfig names the server as its clients reach it (``--kubeconfig-server``)."""

from __future__ import annotations

from pathlib import Path

import yaml

from framework.testing.apiserver import StandInApiServer, StandInSettings
from framework.testing.apiserver.__main__ import parse_args


def _server_in(path: Path) -> str:
    return str(yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"])


async def test_the_kubeconfig_names_the_given_server_or_the_listen_address(tmp_path: Path) -> None:
    given = tmp_path / "given"
    settings = StandInSettings(host="0.0.0.0", kubeconfig_server="http://apiserver:8001")
    async with StandInApiServer(settings, kubeconfig_path=given):
        assert _server_in(given) == "http://apiserver:8001"
    default = tmp_path / "default"
    async with StandInApiServer(StandInSettings(), kubeconfig_path=default) as server:
        assert _server_in(default) == server.server


def test_the_command_line_passes_it_on() -> None:
    args = parse_args(["--kubeconfig=k", "--kubeconfig-server=http://apiserver:8001"])
    assert args.kubeconfig_server == "http://apiserver:8001"
    assert parse_args(["--kubeconfig=k"]).kubeconfig_server == ""
