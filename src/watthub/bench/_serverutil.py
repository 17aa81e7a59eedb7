"""Shared bits of the baseline servers (argument parsing, event loop, health endpoint)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    p.add_argument(
        "--id-tags", type=int, default=100_000, help="known (Accepted) id tags BT000000.."
    )
    p.add_argument(
        "--sync-validation",
        action="store_true",
        help="ocpp-lib: validate on the event loop (ocpp.messages.ASYNC_VALIDATION = False)",
    )
    return p.parse_args(argv)


def health_check(connection: Any, request: Any) -> Response | None:
    """Plain HTTP ``GET /health`` on the WebSocket port, so ``--probe-url`` works for baselines."""
    if request.path == "/health":
        return Response(
            http.HTTPStatus.OK,
            "OK",
            Headers([("Content-Type", "text/plain"), ("Content-Length", "3")]),
            b"ok\n",
        )
    return None


def run(main: Callable[[asyncio.Event], Awaitable[None]], loop_name: str) -> None:
    """Run ``main(stop_event)`` until SIGTERM/SIGINT."""
    loop_factory = None
    if loop_name == "uvloop":
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            loop_factory = None

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await main(stop)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(wrapper())
