"""A tiny in-process event bus so feature modules can react to core events (a transaction
started or stopped, a station booted) without the core knowing about them."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
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
# A site's allocation was recomputed: site_id, sent ([{transactionId, limit, accepted}]).
SITE_ALLOCATION = "site_allocation"
# An operator (user or token) sent a command: actor, actor_kind, station_id, action, result,
# answer (summary, secrets redacted), at (ISO time). domain/audit.py
COMMAND_SENT = "command_sent"
# Event data are JSON-serialisable keyword arguments only (str, int, float, bool, None, lists,
# dicts; timestamps as ISO strings), so that a cluster can carry them between nodes.

# In a cluster (docs/cluster.md) every event another node observes reaches it, but only
# *observers* run there: ``subscribe_all`` listeners and ``subscribe(..., everywhere=True)``. A
# plain ``subscribe`` listener runs on the node that emitted the event, which for station events is
# the node that holds the station: listeners that act (send commands, write) must run once, not
# once per node. The cluster relays only what some other node observes (``interest``): with no
# console open anywhere, station events never leave the node that emitted them.
Relay = Callable[[str, dict[str, Any]], None]
Observer = Callable[[str, dict[str, Any]], Awaitable[None] | None]
#: ``interest()`` when this node observes every event (a ``subscribe_all`` listener exists).
EVERY_EVENT = "*"


class EventBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        # Observers of every event, called as ``observer(event, data)`` (e.g. the console feed):
        # coroutine functions in a task each, plain functions inline (they must not block).
        self._all: list[Observer] = []
        self._all_async: list[Observer] = []
        self._all_plain: list[Observer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._everywhere: dict[str, list[Listener]] = defaultdict(list)
        # Set by the cluster: carries an emitted event to the other nodes (None: no other node
        # observes anything, or no cluster).
        self.relay: Relay | None = None
        # Set by the cluster: told when what this node observes (``interest()``) changes.
        self.on_interest: Callable[[], None] | None = None

    def subscribe(self, event: str, listener: Listener, *, everywhere: bool = False) -> None:
        """``everywhere``: also run for this event when another node emitted it (observers)."""
        self._listeners.setdefault(event, []).append(listener)
        if everywhere:
            self._everywhere[event].append(listener)
            self._interest_changed()

    def subscribe_all(self, listener: Observer) -> None:
        self._all.append(listener)
        if inspect.iscoroutinefunction(listener):
            self._all_async.append(listener)
        else:
            self._all_plain.append(listener)
        self._interest_changed()

    def unsubscribe_all(self, listener: Observer) -> None:
        """Stop observing (the console feed does when its last browser leaves)."""
        for group in (self._all, self._all_async, self._all_plain):
            with contextlib.suppress(ValueError):
                group.remove(listener)
        self._interest_changed()

    def interest(self) -> frozenset[str]:
        """The events this node observes when other nodes emit them: ``{EVERY_EVENT}`` with a
        ``subscribe_all`` listener, the ``everywhere`` events otherwise (often none)."""
        if self._all:
            return frozenset((EVERY_EVENT,))
        return frozenset(event for event, found in self._everywhere.items() if found)

    def _interest_changed(self) -> None:
        if self.on_interest is not None:
            self.on_interest()

    def emit(self, event: str, **data: Any) -> None:
        """Run listeners in their own tasks: a listener may send commands to the very station
        whose message is being handled, which must not block (or deadlock) that handler. With
        no listener, no observer and nobody elsewhere interested, this costs a lookup."""
        listeners = self._listeners.get(event)
        if listeners:
            self._spawn_each(listeners, event, data)
        if self._all:
            self._observe(event, data)
        if self.relay is not None:
            self.relay(event, data)

    def deliver_remote(self, event: str, data: dict[str, Any]) -> None:
        """An event another node emitted: run the observers only (see the module note)."""
        listeners = self._everywhere.get(event)
        if listeners:
            self._spawn_each(listeners, event, data)
        if self._all:
            self._observe(event, data)

    def _spawn_each(self, listeners: list[Listener], event: str, data: dict[str, Any]) -> None:
        for listener in listeners:
            task = asyncio.create_task(self._safe(listener, event, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _observe(self, event: str, data: dict[str, Any]) -> None:
        for plain in self._all_plain:
            try:
                plain(event, data)
            except Exception:
                log.exception("observer %s of all events failed", getattr(plain, "__name__", plain))
        for every in self._all_async:
            task = asyncio.create_task(self._safe_all(every, event, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _safe_all(self, listener: Observer, event: str, data: dict[str, Any]) -> None:
        try:
            await listener(event, data)  # type: ignore[misc]
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
