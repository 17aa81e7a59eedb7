"""The console's live feed: every event of the bus, batched per client for Server-Sent Events.

It listens with ``EventBus.subscribe_all`` only, so whatever reaches the bus (this node's events,
or every node's once the cluster fans events out) reaches the browsers; nothing else feeds it.
It listens only while a browser is connected: without one, events cost the bus nothing here,
and in a cluster the other nodes stop relaying them to this node (``EventBus.interest``).

Per client: events wait in a bounded list and are sent together at most every ``batch_seconds``
(one SSE message with a JSON list), so a busy network costs a browser a few messages a second,
not one per station message. Within a batch a connector's status only keeps its latest value. A
client too slow to keep up (its list full) loses the backlog and gets a ``resync`` message: it
reloads what it shows from the API instead of replaying stale events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from watthub.domain import events as ev
from watthub.domain.events import EventBus

# What the feed forwards: events every role may see (viewers included). Anything else on the bus
# stays there — a future event carrying a secret must not reach browsers by default. A new event
# the console should see is added here once its data is checked.
FORWARDED = frozenset(
    {
        ev.STATUS_CHANGED,
        ev.METER_VALUES,
        ev.SECURITY_EVENT,
        ev.FIRMWARE_STATUS,
        ev.SITE_ALLOCATION,
        ev.TRANSACTION_STARTED,
        ev.TRANSACTION_STOPPED,
        ev.STATION_BOOTED,
        ev.STATION_CONNECTED,
        ev.STATION_DISCONNECTED,
        ev.COMMAND_SENT,  # the audit trail, which viewers may read too (answers are redacted)
        "transaction_stale_closed",
    }
)


@dataclass(eq=False)  # identity hash: clients live in a set
class FeedClient:
    station_id: str | None
    names: frozenset[str] | None
    max_pending: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    overflow: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: str, data: dict[str, Any]) -> None:
        if self.names is not None and event not in self.names:
            return
        if self.station_id is not None and data.get("station_id") != self.station_id:
            return
        if self.overflow:
            return  # the resync reloads everything anyway
        if len(self.pending) >= self.max_pending:
            self.overflow = True
            self.pending.clear()
        else:
            self.pending.append({"event": event, "data": data})
        self.wake.set()

    def take(self) -> tuple[list[dict[str, Any]], bool]:
        batch, overflow = self.pending, self.overflow
        self.pending, self.overflow = [], False
        self.wake.clear()
        return _coalesce(batch), overflow


def _coalesce(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep only the latest status of each connector; everything else in order."""
    latest: dict[tuple[Any, Any], int] = {}
    for i, item in enumerate(batch):
        if item["event"] == ev.STATUS_CHANGED:
            d = item["data"]
            latest[(d.get("station_id"), d.get("connector_id"))] = i
    if len(latest) == sum(1 for i in batch if i["event"] == ev.STATUS_CHANGED):
        return batch
    keep = set(latest.values())
    return [item for i, item in enumerate(batch) if item["event"] != ev.STATUS_CHANGED or i in keep]


class LiveFeed:
    def __init__(
        self,
        bus: EventBus,
        *,
        batch_seconds: float = 0.2,
        max_pending: int = 2000,
        keepalive_seconds: float = 15.0,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.batch_seconds = batch_seconds
        self.max_pending = max_pending
        self.keepalive_seconds = keepalive_seconds
        self._stopping = stopping
        self.clients: set[FeedClient] = set()
        self._bus = bus

    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        # Inline (a plain function): a task per event and browser would cost more than this.
        if event not in FORWARDED:
            return
        for client in tuple(self.clients):
            client.offer(event, data)

    async def stream(
        self,
        station_id: str | None = None,
        names: frozenset[str] | None = None,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[bytes]:
        """The SSE body of one client; ends when the client goes away, the API stops, or (checked
        at each keep-alive) ``still_allowed`` says its credentials no longer hold."""
        client = FeedClient(station_id, names, self.max_pending)
        if not self.clients:
            self._bus.subscribe_all(self._on_event)
        self.clients.add(client)
        try:
            yield b"retry: 2000\n: connected\n\n"
            loop = asyncio.get_running_loop()
            checked = loop.time()
            while not self._stopping():
                try:
                    # Short waits: the API's shutdown must not wait for an idle browser.
                    await asyncio.wait_for(client.wake.wait(), 1.0)
                except TimeoutError:
                    pass
                else:
                    await asyncio.sleep(self.batch_seconds)  # let the batch fill
                    batch, overflow = client.take()
                    if overflow:
                        yield b"event: resync\ndata: {}\n\n"
                    elif batch:
                        yield b"data: " + orjson.dumps(batch) + b"\n\n"
                if loop.time() - checked >= self.keepalive_seconds:
                    checked = loop.time()
                    if still_allowed is not None and not await still_allowed():
                        yield b"event: unauthorized\ndata: {}\n\n"
                        return
                    yield b": keepalive\n\n"
        finally:
            self.clients.discard(client)
            if not self.clients:
                self._bus.unsubscribe_all(self._on_event)
