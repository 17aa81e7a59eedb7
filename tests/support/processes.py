"""Helpers for tests that run ``watthub serve`` (or other servers) as real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

SERVE = (sys.executable, "-m", "watthub", "serve")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health_url(api_port: int) -> str:
    return f"http://127.0.0.1:{api_port}/api/v1/health"


def wait_healthy(
    api_port: int, process: subprocess.Popen[str], timeout: float = 30, why: Callable[[], str] = str
) -> None:
    """Until the API answers its health check; fails at once if the server exits."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, why()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(health_url(api_port)).status_code == 200:
                return
        assert time.monotonic() < deadline, f"watthub serve did not come up\n{why()}"
        time.sleep(0.1)


async def wait_healthy_async(
    api_port: int, running: Callable[[], bool], timeout: float = 30, why: Callable[[], str] = str
) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout):
        while True:
            assert running(), why()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(health_url(api_port))).status_code == 200:
                    return
            await asyncio.sleep(0.1)


def stop(process: subprocess.Popen[str], timeout: float = 10) -> None:
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
