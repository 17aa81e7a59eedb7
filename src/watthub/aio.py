"""Small asyncio helpers shared by the long-running parts of WattHub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger("watthub")


async def stop_task(task: asyncio.Task[Any] | None, timeout: float = 5.0) -> None:
    """Cancel ``task`` and wait for it to end, cancelling again while it keeps running.

    redis-py can swallow a cancellation that lands inside a command, so one ``cancel()`` and an
    unbounded ``await`` can hang a shutdown for good (seen in CI). The wait is bounded by
    ``timeout``; a task still running then is logged and left behind."""
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("task %s did not stop within %.1f s", task.get_name(), timeout)
            return
        task.cancel()
        await asyncio.wait({task}, timeout=min(0.5, remaining))
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()  # retrieved: a failure was logged where it happened
