"""`python -m framework.testing.apiserver --port N --kubeconfig PATH`: serve until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import signal

from .server import StandInApiServer, StandInSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m framework.testing.apiserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free port)")
    parser.add_argument(
        "--kubeconfig", type=pathlib.Path, required=True, help="where to write the kubeconfig"
    )
    parser.add_argument(
        "--kubeconfig-server",
        default="",
        help="the server URL written into the kubeconfig (default: the address it listens on); "
        "where clients reach it by another name, e.g. a compose service name, give that",
    )
    parser.add_argument(
        "--bookmark-interval", type=float, default=5.0, help="seconds between watch bookmarks"
    )
    parser.add_argument("--retained-events", type=int, default=250_000, help="watch history window size")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    settings = StandInSettings(
        host=args.host,
        port=args.port,
        bookmark_interval_seconds=args.bookmark_interval,
        retained_events=args.retained_events,
        kubeconfig_server=args.kubeconfig_server,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with StandInApiServer(settings, kubeconfig_path=args.kubeconfig) as server:
        print(
            f"stand-in API server listening on {server.server}; kubeconfig {server.kubeconfig_path}",
            flush=True,
        )
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
