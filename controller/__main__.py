"""``python -m controller`` / ``aws-lb-sg-controller``: parse upstream's flags and run until stopped.

Exit codes: 0 after a graceful shutdown (SIGTERM/SIGINT), 1 when leadership was lost or start-up
failed (the Deployment restarts the pod, as with upstream), 2 for invalid flags.

Two operator commands share the entry point, each with exit codes of its own (0 nothing to do,
2 something found, 1 error): ``aws-lb-sg-controller plan ...`` prints what the controller would
change (``controller.plan.cli``), ``aws-lb-sg-controller gc [--apply]`` reports and removes what
it left behind (``controller.gc.cli``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from controller.config import ControllerSettings, parse_config
from framework import startup_gc

_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def configure_logging(config: ControllerSettings) -> None:
    logging.basicConfig(
        level=_LOG_LEVELS[config.log_level],
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # aiobotocore/botocore debug logs include request bodies; keep them out of info-level output.
    for noisy in ("botocore", "aiobotocore", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, _LOG_LEVELS[config.log_level]))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["gc"]:  # the leak report / clean-up command, not the controller
        from controller.gc.cli import main as gc_main

        return gc_main(args[1:])
    if args[:1] == ["plan"]:  # what the controller would change, changing nothing
        from controller.plan.cli import main as plan_main

        return plan_main(args[1:])
    config = parse_config(args)
    configure_logging(config)
    # No collection while the SDKs are imported and the app is wired; the manager freezes what
    # that built as it starts the informers (framework.startup_gc).
    startup_gc.pause()
    # Imported after flag parsing so `--help` and flag errors answer without loading the AWS SDK.
    from controller.app import run_controller

    return asyncio.run(run_controller(config))


if __name__ == "__main__":
    sys.exit(main())
