"""docker-compose.yml read the way compose reads it, and its services run as local processes.

There is no Docker engine here. What compose itself would do before starting a container is done
by hand, strictly: ``${VAR}`` / ``${VAR:-default}`` interpolation (anything else is an error, not
a guess), depends_on order and conditions, healthchecks (their ``CMD`` run as a local command),
and each mount made available at ``$SANDBOX_ROOT`` + its target path (see the file's header).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SCHEMA = REPO / ".cache" / "compose-schema" / "compose-spec.json"
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^${}]*))?")
HEALTH_POLL_S = 0.25
STOP_TIMEOUT_S = 15.0
# However long the file lets a service take, the test (120 s in all) gives it at most this long.
WAIT_CAP_S = 90.0
_DURATION = re.compile(r"(?P<value>\d+)(?P<unit>s|m)")


class InterpolationError(ValueError):
    """A ``$`` this strict interpolation does not understand, or a variable nobody set."""


def load_compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's ``$$``, ``${VAR}`` and ``${VAR:-default}`` (default when unset or empty)."""
    out: list[str] = []
    index = 0
    while (dollar := text.find("$", index)) != -1:
        out.append(text[index:dollar])
        following = text[dollar + 1 : dollar + 2]
        if following == "$":
            out.append("$")
            index = dollar + 2
            continue
        end = text.find("}", dollar)
        match = _BRACED.fullmatch(text, dollar + 2, end) if following == "{" and end != -1 else None
        if match is None:
            raise InterpolationError(
                f"unsupported interpolation at {text[dollar : dollar + 30]!r} in {text!r}"
            )
        name, default = match["name"], match["default"]
        value = variables.get(name)
        if default is not None:
            out.append(value or default)
        elif value is None:
            raise InterpolationError(f"${{{name}}} is not set and has no default (in {text!r})")
        else:
            out.append(value)
        index = end + 1
    out.append(text[index:])
    return "".join(out)


def interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    """Every string value (not key) interpolated, as compose does."""
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, variables) for key, value in node.items()}
    return node


def variable_names(node: Any) -> set[str]:
    """Every ``${NAME...}`` the document uses."""
    text = yaml.safe_dump(node)
    return {match.group(1) for match in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)}


def dependencies(service: Mapping[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}; the short (list) form means ``service_started``."""
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: str(spec.get("condition", "service_started")) for name, spec in depends.items()}


def start_order(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every service after everything it depends on (file order among equals); fails on a cycle."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"depends_on cycle through {name}")
        visiting.add(name)
        for dependency in dependencies(services[name]):
            visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in services:
        visit(name)
    return order


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_variables(document: Mapping[str, Any], root: Path) -> dict[str, str]:
    """Values for every variable the file uses: 127.0.0.1 for host names and the listen address,
    free ports, ``root`` for SANDBOX_ROOT. A variable of another kind fails the test: this
    function must learn what it means first."""
    values: dict[str, str] = {}
    used: set[int] = set()
    for name in sorted(variable_names(document)):
        if name == "SANDBOX_ROOT":
            values[name] = str(root)
        elif name == "SANDBOX_LISTEN" or name.endswith("_HOST"):
            values[name] = "127.0.0.1"
        elif name.endswith("_PORT"):
            while (port := free_port()) in used:
                pass
            used.add(port)
            values[name] = str(port)
        else:
            raise AssertionError(f"docker-compose.yml uses ${{{name}}}, which the local run cannot fill")
    return values


# ---------------------------------------------------------------------------------------- mounts


def _under_root(root: Path, target: str) -> Path:
    """Where a container path appears in the local run. The targets of mounts are literal paths:
    compose mounts them in the container, the local run at the same path under SANDBOX_ROOT."""
    if not target.startswith("/") or "$" in target:
        raise AssertionError(f"mount target {target!r} is not an absolute literal path")
    return root / target.lstrip("/")


def _place(path: Path, source: Path | None, content: str | None = None) -> None:
    """A link to ``source`` (or a file with ``content``) at ``path``; the same thing twice is fine,
    two different things at one path are not."""
    if path.is_symlink() or path.exists():
        if source is not None and path.is_symlink() and path.resolve() == source.resolve():
            return
        if content is not None and path.read_text() == content:
            return
        raise AssertionError(f"two different mounts at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        path.symlink_to(source)
    else:
        path.write_text(content or "")


def materialize_mounts(document: Mapping[str, Any], service: Mapping[str, Any], root: Path) -> None:
    """Make every volume and config of ``service`` (interpolated) available under ``root``."""
    named_volumes = document.get("volumes") or {}
    for volume in service.get("volumes") or []:
        if not isinstance(volume, str):
            raise AssertionError(f"only the short volume syntax is understood here: {volume!r}")
        source, target, *_mode = volume.split(":")
        if source in named_volumes:
            directory = root / ".volumes" / source
            directory.mkdir(parents=True, exist_ok=True)
            _place(_under_root(root, target), directory)
        elif source.startswith("."):
            bound = REPO / source
            if not bound.exists():
                raise AssertionError(f"bind mount source {source} does not exist")
            _place(_under_root(root, target), bound)
        else:
            raise AssertionError(f"volume {volume!r} is neither a named volume nor a ./ bind mount")
    configs = document.get("configs") or {}
    for config in service.get("configs") or []:
        if not isinstance(config, dict) or set(config) != {"source", "target"}:
            raise AssertionError(f"only {{source, target}} configs are understood here: {config!r}")
        definition = configs[config["source"]]
        path = _under_root(root, config["target"])
        if "file" in definition:
            _place(path, REPO / definition["file"])
        elif "content" in definition:
            _place(path, None, definition["content"])
        else:
            raise AssertionError(f"config {config['source']} has neither file nor content")


# ------------------------------------------------------------------------------------- processes


@dataclass
class RunningService:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def log_tail(self, characters: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-characters:]

    def stdout_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@dataclass
class LocalCompose:
    """The services of an interpolated compose document, started in depends_on order."""

    document: Mapping[str, Any]
    root: Path
    running: dict[str, RunningService] = field(default_factory=dict)

    @property
    def environment_base(self) -> dict[str, str]:
        # A container sees only its image's environment and the service's; locally the venv's
        # tools (python, aws-lb-sg-controller) come first on PATH, like the image's /usr/local.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        home = self.root / ".home"
        home.mkdir(exist_ok=True)
        return {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8"}

    def service(self, name: str) -> Mapping[str, Any]:
        services: Mapping[str, Mapping[str, Any]] = self.document["services"]
        return services[name]

    def argv(self, name: str) -> list[str]:
        service = self.service(name)
        entrypoint, command = service.get("entrypoint"), service.get("command", [])
        # Spelled out in the file, not taken from the image, so what runs here is what runs there.
        if not isinstance(entrypoint, list) or not isinstance(command, list):
            raise AssertionError(f"service {name}: entrypoint and command must be lists")
        argv = [str(part) for part in [*entrypoint, *command]]
        resolved = shutil.which(argv[0], path=self.environment_base["PATH"])
        if resolved is None:
            raise AssertionError(f"service {name}: {argv[0]} is not on PATH")
        return argv

    async def start_all(self, names: list[str]) -> None:
        """Start ``names`` as ``docker compose up`` does: each as soon as what it depends on is
        in the state it asks for, independent ones side by side."""
        started = {name: asyncio.Event() for name in names}

        async def start_when_ready(name: str) -> None:
            for dependency, condition in dependencies(self.service(name)).items():
                await started[dependency].wait()
                await self.wait_for(dependency, condition)
            await self.start(name)
            started[name].set()

        try:
            async with asyncio.TaskGroup() as group:
                for name in names:
                    group.create_task(start_when_ready(name))
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None  # the first service that failed says why

    async def start(self, name: str) -> RunningService:
        materialize_mounts(self.document, self.service(name), self.root)
        environment = {**self.environment_base, **self.service(name).get("environment", {})}
        log = self.root / ".logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                *self.argv(name),
                cwd=self.root,
                env=environment,
                stdout=output,
                stderr=output,
                start_new_session=True,  # a Ctrl-C of the test run does not hit them twice
            )
        self.running[name] = RunningService(name, process, log)
        return self.running[name]

    async def wait_for(self, name: str, condition: str) -> None:
        service = self.running[name]
        if condition == "service_started":
            return
        if condition == "service_completed_successfully":
            try:
                async with asyncio.timeout(WAIT_CAP_S):
                    code = await service.process.wait()
            except TimeoutError:
                raise AssertionError(f"{name} did not finish:\n{service.log_tail()}") from None
            assert code == 0, f"{name} exited with {code}:\n{service.log_tail()}"
            return
        if condition != "service_healthy":
            raise AssertionError(f"unknown depends_on condition {condition}")
        await self.wait_healthy(name)

    async def wait_healthy(self, name: str) -> None:
        """Run the healthcheck's CMD until it succeeds; fail when the service exits first."""
        healthcheck = self.service(name)["healthcheck"]
        test = healthcheck["test"]
        if not isinstance(test, list) or test[0] != "CMD":
            raise AssertionError(f"{name}: only [CMD, ...] healthchecks are understood here")
        service = self.running[name]
        # Unhealthy, for compose, after `retries` failures `interval` apart.
        patience = min(WAIT_CAP_S, _seconds(healthcheck["interval"]) * int(healthcheck["retries"]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        # Polled faster than the file's interval: what matters here is the command, not the pace.
        while True:
            if loop.time() > deadline:
                raise AssertionError(f"{name} not healthy within {patience:.0f}s:\n{service.log_tail()}")
            if service.process.returncode is not None:
                raise AssertionError(
                    f"{name} exited with {service.process.returncode} before it was healthy:\n{service.log_tail()}"
                )
            probe = await asyncio.create_subprocess_exec(
                *test[1:],
                env=self.environment_base,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            if await probe.wait() == 0:
                return
            await asyncio.sleep(HEALTH_POLL_S)

    async def stop_all(self) -> dict[str, int]:
        """SIGTERM in reverse start order (as ``docker compose down``), SIGKILL after a grace
        period; returns each long-running service's exit code."""
        codes: dict[str, int] = {}
        for name in reversed(list(self.running)):
            process = self.running[name].process
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(STOP_TIMEOUT_S):
                        codes[name] = await process.wait()
                except TimeoutError:
                    process.kill()
                    codes[name] = await process.wait()
        return codes

    async def leftover_process_groups(self, wait_s: float = 5.0) -> list[str]:
        """Services whose process group still has a member (a child they did not stop, like
        moto under the ``aws`` service), after up to ``wait_s`` for orphans to be reaped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            alive = [name for name, service in self.running.items() if _group_alive(service.process.pid)]
            if not alive or loop.time() > deadline:
                return alive
            await asyncio.sleep(0.1)


def _seconds(duration: str) -> float:
    match = _DURATION.fullmatch(duration)
    if match is None:
        raise AssertionError(f"duration {duration!r}: only <n>s and <n>m are understood here")
    return float(match["value"]) * (60 if match["unit"] == "m" else 1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.asynccontextmanager
async def local_compose(document: Mapping[str, Any], root: Path) -> AsyncIterator[LocalCompose]:
    compose = LocalCompose(document, root)
    try:
        yield compose
    finally:
        await compose.stop_all()
        # Whatever a failed test left behind: never leave a process running.
        for service in compose.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
