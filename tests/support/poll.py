"""Waiting for what WattHub does in the background (listeners, timers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout: float = 5.0
) -> Any:
    """Call ``probe`` until ``check`` holds on its result; return that result."""
    async with asyncio.timeout(timeout):
        while True:
            value = await probe()
            if check(value):
                return value
            await asyncio.sleep(0.05)
