"""Bookkeeping for our outbound CALLs: one future per unique message id, so a late or unknown
CALLRESULT can never be matched to the next call (performance notes §4.3)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class PendingCall:
    message_id: str
    action: str
    future: asyncio.Future[Any]


class PendingCalls:
    def __init__(self) -> None:
        self._pending: dict[str, PendingCall] = {}

    def open(self, action: str) -> PendingCall:
        message_id = str(uuid.uuid4())
        pending = PendingCall(message_id, action, asyncio.get_running_loop().create_future())
        self._pending[message_id] = pending
        return pending

    def close(self, message_id: str) -> None:
        """Forget a call (answered or timed out); its id is never reused."""
        self._pending.pop(message_id, None)

    def resolve(self, message_id: str, outcome: Any) -> PendingCall | None:
        """Hand ``outcome`` to the waiting call. ``None`` when nobody waits (late or unknown id)."""
        pending = self._pending.pop(message_id, None)
        if pending is None or pending.future.done():
            return None
        pending.future.set_result(outcome)
        return pending

    def fail_all(self, exc: BaseException) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(exc)
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)
