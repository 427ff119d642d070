"""An AWS that behaves like AWS for tests, benchmarks and the local sandbox: moto behind a proxy."""

from controller.sandbox.clock import SteppingClock
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy, RequestRecord
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, SandboxVpc, seed_vpc

__all__ = [
    "SANDBOX_CLUSTER",
    "SANDBOX_REGION",
    "AwsProxy",
    "MotoServer",
    "RequestRecord",
    "SandboxVpc",
    "SteppingClock",
    "seed_vpc",
]
