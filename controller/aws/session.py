"""aiobotocore sessions that share one botocore data loader.

Parsing the EC2 service model takes about half a second; botocore caches it per loader, so
every session made here (the controller's, the sandbox proxy's, each test's) parses it once.
"""

from __future__ import annotations

from functools import cache

from aiobotocore.session import AioSession, get_session
from botocore.loaders import Loader, create_loader


@cache
def shared_loader() -> Loader:
    return create_loader()


def new_session() -> AioSession:
    session = get_session()
    session.register_component("data_loader", shared_loader())
    return session
