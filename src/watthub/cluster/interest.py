"""Which events the other nodes observe, so that a node relays only those.

Observers (``EventBus.subscribe_all``, ``subscribe(..., everywhere=True)``) are rare and come and
go: the console feed observes only while a browser is connected. Without this, every station
event of every node went through Redis to every other node, to be decoded and dropped there —
the cost that made two workers slower than one (docs/cluster.md, "Events").

* Each node writes what it observes into the hash ``P:observers`` (field = node name, value =
  ``{"e": [event names or "*"], "until": unix time}``, rewritten every lease and deleted when it
  observes nothing) and announces a change at once on ``P:events`` (``{"i": [...], "o": node}``).
* Each node reads the hash when its subscription starts (and after Redis comes back), then every
  lease, and applies announcements as they arrive. An entry not rewritten for 3 leases (a node
  killed with ``-9``) is ignored.
* Until the first read succeeded a node relays every event: when in doubt, relay.

An observer that appears on node B reaches node A's relay within one Redis round trip after B's
announcement; events A emitted before that moment are not relayed (the console loads its state
from the API when it opens, and takes live updates from then on)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from watthub.domain.events import EVERY_EVENT, EventBus

log = logging.getLogger("watthub.cluster")

#: Relay everything (interest not known yet).
EVERYTHING = frozenset((EVERY_EVENT,))


class Interest:
    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        name: str,
        lease: float,
        events: EventBus,
        announce: Callable[[bytes], None],
        changed: Callable[[frozenset[str]], None],
    ) -> None:
        self._redis = redis
        self._key = key
        self._name = name
        self._lease = lease
        self._events = events
        self._announce = announce  # posts a notice on the events channel (ordered publisher)
        self._changed = changed  # gets the union of what the other nodes observe
        self._others: dict[str, tuple[frozenset[str], float]] = {}
        self._noticed: dict[str, float] = {}  # node → when its last announcement arrived
        self._known = False
        self.own: frozenset[str] = events.interest()
        self._refresh = asyncio.Event()
        self.wanted: frozenset[str] = EVERYTHING

    # -- this node ---------------------------------------------------------------------------------

    def local_changed(self) -> None:
        """``EventBus.on_interest``: announce at once, write the hash at the next round."""
        own = self._events.interest()
        if own == self.own:
            return
        self.own = own
        self._announce(orjson.dumps({"i": sorted(own), "o": self._name}))
        self._refresh.set()

    async def _write_own(self) -> None:
        if self.own:
            value = {"e": sorted(self.own), "until": time.time() + 3 * self._lease}
            await self._redis.hset(self._key, self._name, orjson.dumps(value))
        else:
            await self._redis.hdel(self._key, self._name)

    async def leave(self) -> None:
        await self._redis.hdel(self._key, self._name)

    # -- the other nodes ---------------------------------------------------------------------------

    def resubscribed(self) -> None:
        """Announcements may have been missed while the subscription was down: read again."""
        self._refresh.set()

    def notice(self, message: dict[str, Any]) -> None:
        node = message.get("o")
        if not isinstance(node, str) or node == self._name:
            return
        events = frozenset(message.get("i") or ())
        self._noticed[node] = time.time()
        if events:
            self._others[node] = (events, time.time() + 3 * self._lease)
        else:
            self._others.pop(node, None)
        self._recompute()

    async def run(self, subscribed: asyncio.Event) -> None:
        """Every lease (and at once when asked): write this node's entry, read everyone's."""
        while True:
            await subscribed.wait()  # read after subscribing: no announcement falls in between
            self._refresh.clear()
            started = time.time()
            try:
                await self._write_own()
                entries = await self._redis.hgetall(self._key)
            except (RedisError, OSError) as exc:
                if (task := asyncio.current_task()) is not None and task.cancelling():
                    raise asyncio.CancelledError from None
                log.debug("cluster: observers not read (%s)", exc)
            else:
                self._load(entries, started)
            try:
                await asyncio.wait_for(self._refresh.wait(), self._lease)
            except TimeoutError:
                pass

    def _load(self, entries: dict[bytes, bytes], started: float) -> None:
        others: dict[str, tuple[frozenset[str], float]] = {}
        for field, raw in entries.items():
            node = field.decode()
            if node == self._name:
                continue
            try:
                value = orjson.loads(raw)
                others[node] = (frozenset(value["e"]), float(value["until"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("cluster: ignored an unreadable observers entry of %s", node)
        for node, at in list(self._noticed.items()):
            if at >= started:  # announced while we read: newer than what we read
                if node in self._others:
                    others[node] = self._others[node]
                else:
                    others.pop(node, None)
            else:
                del self._noticed[node]
        self._others = others
        self._known = True
        self._recompute()

    def _recompute(self) -> None:
        if not self._known:
            wanted = EVERYTHING
        else:
            now = time.time()
            wanted = frozenset().union(*(e for e, until in self._others.values() if until > now))
        if EVERY_EVENT in wanted:
            wanted = EVERYTHING
        if wanted != self.wanted:
            self.wanted = wanted
            self._changed(wanted)
