"""This process as a member of a WattHub cluster: its Redis connections and its mailbox.

Redis keys and channels (``P`` = ``cluster_prefix``):

* ``P:owner:{station}`` = ``node|token`` — who holds the station (``ownership.py``), with a lease;
* ``P:lease:{name}`` — once-only work (``leases.py``);
* channel ``P:events`` — emitted events some other node observes, in batches (one PUBLISH per
  publisher round, ``{"o": node, "b": [[event, data], ...]}``), and what each node observes
  (``{"i": [...], "o": node}``, ``interest.py``, with the hash ``P:observers``);
* channel ``P:inval`` — every cache invalidation;
* channel ``P:node:{name}`` — this node's mailbox: routed commands and their replies, and
  "close your socket of station X" when a newer connection took it (``routing.py``).

Pub/sub carries what is only useful live (events, invalidations, commands waiting for an answer);
nothing acknowledged to a station depends on it. When the subscription breaks (Redis restarts,
the network drops), the node keeps serving its own stations, retries, and on reconnect drops
every cache, because invalidations may have been missed meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from watthub.aio import stop_task
from watthub.cluster.interest import EVERYTHING, Interest
from watthub.config import Settings
from watthub.domain.events import EVERY_EVENT, EventBus
from watthub.domain.invalidation import Invalidation

log = logging.getLogger("watthub.cluster")

# Redis must answer a coordination request within this; beyond it a cross-node command fails
# with 503 instead of hanging (the station's own node keeps working without Redis).
REDIS_TIMEOUT = 1.0
RECONNECT_DELAY = 0.5
# Events waiting for the publisher beyond this are dropped (Redis too slow or away).
MAX_PENDING = 100_000
# Events per PUBLISH: bounds one message's size when a backlog is flushed at once.
EVENTS_PER_MESSAGE = 500

Handler = Callable[[dict[str, Any]], None]


def unless_cancelled() -> None:
    """Call first in an ``except (RedisError, OSError)``: a task cancelled inside a Redis call
    can surface as TimeoutError (an OSError); it must stop, not take the "Redis down" path."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def default_node_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ClusterNode:
    def __init__(self, settings: Settings, events: EventBus, invalidation: Invalidation) -> None:
        assert settings.redis_url
        self.settings = settings
        self.name = settings.node_name or default_node_name()
        self.prefix = settings.cluster_prefix
        self.lease = settings.cluster_lease
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            # No silent retries: a failure must surface at once (503, fallback, reconnect loop).
            retry=Retry(NoBackoff(), 0),
        )
        self._events = events
        self._invalidation = invalidation
        self._handlers: dict[str, Handler] = {}
        # Waiting for the publisher: best-effort messages (invalidations, announcements) and the
        # events emitted since its last round (sent as one message: one PUBLISH, not one each).
        self._outbox: list[tuple[str, bytes]] = []
        self._batch: list[tuple[str, dict[str, Any]]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._events_channel = self.key("events")
        self._events_channel_b = self._events_channel.encode()
        self._inval_channel_b = self.key("inval").encode()
        # Our own batches come back on the shared channel: recognised without decoding them.
        self._own_batch = orjson.dumps({"o": self.name})[:-1] + b","
        self.interest = Interest(
            self.redis,
            self.key("observers"),
            self.name,
            self.lease,
            events,
            lambda body: self._post_raw(self._events_channel, body),
            self._set_relay,
        )
        self._relay_all = True
        self._relay_events: frozenset[str] = EVERYTHING
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()
        # Health as last seen by the subscriber and the publisher (health() also pings).
        self.redis_ok = False
        self.dropped = 0

    # -- names ------------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def mailbox(self, node: str) -> str:
        return self.key("node", node)

    # -- lifecycle --------------------------------------------------------------------------------

    def on(self, kind: str, handler: Handler) -> None:
        """Handle mailbox messages of ``kind`` (``{"t": kind, ...}``)."""
        self._handlers[kind] = handler

    async def start(self) -> None:
        self._set_relay(self.interest.wanted)
        self._events.on_interest = self.interest.local_changed
        self._invalidation.relay = lambda kind, key: self._post(
            self.key("inval"), {"o": self.name, "k": kind, "key": key}
        )
        self._tasks.append(asyncio.create_task(self._subscriber(), name="watthub-cluster-sub"))
        self._tasks.append(asyncio.create_task(self._publisher(), name="watthub-cluster-pub"))
        self._tasks.append(
            asyncio.create_task(self.interest.run(self.subscribed), name="watthub-cluster-interest")
        )
        # A node that comes up while Redis is down still starts (it serves its own stations).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 3 * REDIS_TIMEOUT)
        if not self.subscribed.is_set():
            log.warning("cluster node %s: Redis is unreachable; serving local stations", self.name)

    async def stop(self) -> None:
        self._stopping = True
        self._events.relay = None
        self._events.on_interest = None
        self._invalidation.relay = None
        # Let queued events and invalidations out before leaving (bounded).
        if self.redis_ok:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 2 * REDIS_TIMEOUT)
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(self.interest.leave(), REDIS_TIMEOUT)
        await asyncio.gather(*(stop_task(task) for task in self._tasks))
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # -- sending ----------------------------------------------------------------------------------

    def _set_relay(self, wanted: frozenset[str]) -> None:
        """What the other nodes observe changed: relay only that (nothing: no relay at all)."""
        self._relay_all = EVERY_EVENT in wanted
        self._relay_events = wanted
        if not self._stopping:
            self._events.relay = self._relay_event if wanted else None

    def _relay_event(self, event: str, data: dict[str, Any]) -> None:
        if not (self._relay_all or event in self._relay_events):
            return
        if len(self._batch) >= MAX_PENDING:
            self.dropped += 1
            return
        if not self._batch:
            self._wake.set()
            self._idle.clear()
        self._batch.append((event, data))

    def _post(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a best-effort message (invalidations); one publisher keeps the order."""
        self._post_raw(channel, orjson.dumps(message))

    def _post_raw(self, channel: str, body: bytes) -> None:
        if len(self._outbox) >= MAX_PENDING:
            self.dropped += 1
            return
        self._outbox.append((channel, body))
        self._wake.set()
        self._idle.clear()

    def _take(self) -> list[tuple[str, bytes]]:
        messages, self._outbox = self._outbox, []
        batch, self._batch = self._batch, []
        for start in range(0, len(batch), EVENTS_PER_MESSAGE):
            chunk = batch[start : start + EVENTS_PER_MESSAGE]
            messages.append((self._events_channel, orjson.dumps({"o": self.name, "b": chunk})))
        return messages

    async def _publisher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Everything queued since the last round goes out together: while a PUBLISH is in
            # flight the next batch fills, so the busier the node, the fewer messages per event.
            messages = self._take()
            try:
                if len(messages) == 1:
                    await self.redis.publish(*messages[0])
                elif messages:
                    pipe = self.redis.pipeline(transaction=False)
                    for channel, body in messages:
                        pipe.publish(channel, body)
                    await pipe.execute()
                self.redis_ok = True
            except (RedisError, OSError) as exc:
                unless_cancelled()
                # Lost while Redis is down, and so is the backlog: live notifications delivered
                # late would mislead; the other nodes drop their caches when they reconnect.
                self.dropped += len(messages) + len(self._outbox) + len(self._batch)
                self._outbox.clear()
                self._batch.clear()
                if self.redis_ok:
                    log.warning("cluster: cannot publish to Redis (%s)", exc)
                self.redis_ok = False
            if not self._outbox and not self._batch:
                self._idle.set()

    async def send(self, node: str, message: dict[str, Any]) -> int:
        """Publish to ``node``'s mailbox now; returns how many subscribers got it (0: the node is
        gone). Raises ``RedisError``/``OSError`` when Redis is unreachable."""
        return int(await self.redis.publish(self.mailbox(node), orjson.dumps(message)))

    # -- receiving --------------------------------------------------------------------------------

    async def _subscriber(self) -> None:
        first = True
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(
                    self.key("events"), self.key("inval"), self.mailbox(self.name)
                )
                if not first:
                    log.info("cluster: Redis is back; dropping caches that may be stale")
                    self._invalidation.deliver_all()
                    self.interest.resubscribed()
                first = False
                self.redis_ok = True
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as exc:
                if self.subscribed.is_set():
                    log.warning("cluster: lost the Redis subscription (%s); retrying", exc)
                self.subscribed.clear()
                self.redis_ok = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(RECONNECT_DELAY)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        if channel == self._events_channel_b:
            if data.startswith(self._own_batch):
                return  # our own events, back from the shared channel
            if not self.interest.own and data.startswith(b'{"o":'):
                return  # a batch of events, and nobody here observes any: not even decoded
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("cluster: ignored an unreadable message on %r", channel)
            return
        if channel == self._events_channel_b:
            if message.get("o") == self.name:
                return
            if "b" in message:
                deliver = self._events.deliver_remote
                for event, event_data in message["b"]:
                    deliver(event, event_data)
            elif "i" in message:
                self.interest.notice(message)
            elif "e" in message:  # one event, as nodes before batching sent them
                self._events.deliver_remote(message["e"], message["d"])
        elif channel == self._inval_channel_b:
            if message.get("o") != self.name:
                self._invalidation.deliver(message["k"], message.get("key"))
        else:
            handler = self._handlers.get(message.get("t", ""))
            if handler is None:
                log.warning("cluster: no handler for mailbox message %r", message.get("t"))
                return
            try:
                handler(message)
            except Exception:
                log.exception("cluster: handling a %s message failed", message.get("t"))

    # -- health -----------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """For readiness checks and the API: is Redis reachable from this node, right now?"""
        started = time.perf_counter()
        try:
            await self.redis.ping()
            ok = True
        except (RedisError, OSError):
            unless_cancelled()
            ok = False
        return {
            "mode": "cluster",
            "node": self.name,
            "redis": ok,
            "subscribed": self.subscribed.is_set(),
            "redisLatencyMs": round((time.perf_counter() - started) * 1000, 2),
            "droppedMessages": self.dropped,
        }
