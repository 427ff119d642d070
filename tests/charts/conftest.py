"""The chart tests run the real helm CLI (``make helm-binary`` builds it); without it they fail,
naming that command, instead of skipping: a skipped chart test would hide a broken chart."""

from __future__ import annotations

import pytest
from helm_chart import Helm, HelmMissing, locate_helm


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        binary = locate_helm()
    except HelmMissing as error:
        pytest.fail(str(error), pytrace=False)
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))
