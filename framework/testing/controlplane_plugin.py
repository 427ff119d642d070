"""pytest fixtures for the real control plane (etcd + kube-apiserver, see ``controlplane``).

Register with ``pytest_plugins = [..., "framework.testing.controlplane_plugin"]``. The control
plane starts once per test session, on first use, and stops when the session ends. Tests share
it, so each test works in its own namespace or with uniquely named objects.

When the binaries have not been built the fixture fails, naming the command that builds them:
a test that needs the real server and silently skips would hide exactly the differences it is
there to catch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from framework.testing.controlplane import ControlPlaneBinaries, ControlPlaneBinariesMissing, RealControlPlane


@pytest.fixture(scope="session")
def real_control_plane() -> Iterator[RealControlPlane]:
    """A running real control plane; its admin identity is ``system:masters``."""
    try:
        binaries = ControlPlaneBinaries.locate()
    except ControlPlaneBinariesMissing as error:
        pytest.fail(str(error), pytrace=False)
    with RealControlPlane(binaries) as control_plane:
        yield control_plane
