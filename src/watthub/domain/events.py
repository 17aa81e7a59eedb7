"""A tiny in-process event bus so feature modules can react to core events (a transaction
started or stopped, a station booted) without the core knowing about them."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[..., Awaitable[None]]

TRANSACTION_STARTED = "transaction_started"
TRANSACTION_STOPPED = "transaction_stopped"
# A transaction WattHub closed itself (the charger lost it): station_id, transaction_id,
# connector_id, cause (newStart | boot), meter_stop, stop_time. TRANSACTION_STOPPED comes too.
TRANSACTION_STALE_CLOSED = "transaction_stale_closed"
STATION_BOOTED = "station_booted"
STATION_CONNECTED = "station_connected"
STATION_DISCONNECTED = "station_disconnected"
# Fed to the console's live feed (api/live_feed.py); data keys stay snake_case.
STATUS_CHANGED = "status_changed"  # station_id, connector_id, status, error_code, timestamp
METER_VALUES = "meter_values"  # station_id, connector_id, transaction_id, meter_value (OCPP list)
SECURITY_EVENT = "security_event"  # station_id, type, critical, tech_info, timestamp
FIRMWARE_STATUS = "firmware_status"  # station_id, kind ("firmware"/"diagnostics"), status
# An operator (user or token) sent a command: actor, actor_kind, station_id, action, result,
# answer (summary, secrets redacted), at (ISO time). domain/audit.py
COMMAND_SENT = "command_sent"
# Event data are JSON-serialisable keyword arguments only (str, int, float, bool, None, lists,
# dicts; timestamps as ISO strings), so that a cluster can carry them between nodes.

# In a cluster (docs/cluster.md) every event reaches every node, but only *observers* run there:
# ``subscribe_all`` listeners and ``subscribe(..., everywhere=True)``. A plain ``subscribe``
# listener runs on the node that emitted the event, which for station events is the node that
# holds the station: listeners that act (send commands, write) must run once, not once per node.
Relay = Callable[[str, dict[str, Any]], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        # Listeners of every event, called as ``listener(event, data)`` (e.g. the console feed).
        self._all: list[Callable[[str, dict[str, Any]], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._everywhere: dict[str, list[Listener]] = defaultdict(list)
        # Set by the cluster: carries each emitted event to the other nodes.
        self.relay: Relay | None = None

    def subscribe(self, event: str, listener: Listener, *, everywhere: bool = False) -> None:
        """``everywhere``: also run for this event when another node emitted it (observers)."""
        self._listeners[event].append(listener)
        if everywhere:
            self._everywhere[event].append(listener)

    def subscribe_all(self, listener: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        self._all.append(listener)

    def emit(self, event: str, **data: Any) -> None:
        """Run listeners in their own tasks: a listener may send commands to the very station
        whose message is being handled, which must not block (or deadlock) that handler."""
        self._run(self._listeners.get(event, ()), event, data)
        if self.relay is not None:
            self.relay(event, data)

    def deliver_remote(self, event: str, data: dict[str, Any]) -> None:
        """An event another node emitted: run the observers only (see the module note)."""
        self._run(self._everywhere.get(event, ()), event, data)

    def _run(self, listeners: Any, event: str, data: dict[str, Any]) -> None:
        for listener in listeners:
            task = asyncio.create_task(self._safe(listener, event, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for every in self._all:
            task = asyncio.create_task(self._safe_all(every, event, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _safe_all(
        self,
        listener: Callable[[str, dict[str, Any]], Awaitable[None]],
        event: str,
        data: dict[str, Any],
    ) -> None:
        try:
            await listener(event, data)
        except Exception:
            log.exception(
                "listener %s of all events failed", getattr(listener, "__name__", listener)
            )

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run a follow-up (e.g. a command to the station whose message is being handled) in
        its own task, logged on failure and drained at stop like the listeners."""

        async def run() -> None:
            await coro

        run.__name__ = name
        task = asyncio.create_task(self._safe(run, name, {}))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _safe(self, listener: Listener, event: str, data: dict[str, Any]) -> None:
        try:
            await listener(**data)
        except Exception:
            log.exception(
                "listener %s for %s failed", getattr(listener, "__name__", listener), event
            )

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
