"""The cluster's :class:`~watthub.gateway.StationGateway`: a command reaches the station on
whichever node holds it.

Local station → the local session, exactly as on one node (and without Redis). Remote station →
a ``call`` message to the owner's mailbox; the owner runs it through its own session (so calls
from every node queue behind that session's one outstanding CALL, OCPP-J §4.1.1) and publishes a
``reply`` to the caller's mailbox. Results are the same as on one node:

* the station's answer, or its CALLERROR (:class:`StationCallError`);
* :class:`StationNotConnected` (409) when no node holds it, or the owner left (its mailbox has no
  subscriber, or it answers that the station is gone);
* :class:`StationTimeout` (504) when the station does not answer in time, or the owner dies
  while the call is in flight (the caller waits ``timeout`` + a routing margin, never longer);
* :class:`ClusterUnavailable` (503) when the station is not here and Redis cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from watthub.cluster.node import ClusterNode, unless_cancelled
from watthub.cluster.ownership import Ownership
from watthub.gateway import (
    ClusterUnavailable,
    GatewayError,
    LocalGateway,
    StationCallError,
    StationNotConnected,
    StationTimeout,
)

log = logging.getLogger("watthub.cluster")

# Time for the request and the reply to travel through Redis, on top of the station's timeout.
ROUTING_MARGIN = 2.0


def _unavailable(station_id: str, exc: BaseException) -> ClusterUnavailable:
    return ClusterUnavailable(
        f"Station {station_id} is not connected to this node and the cluster cannot be "
        f"reached to find it (Redis: {exc}); try again shortly"
    )


class ClusterGateway:
    def __init__(
        self,
        local: LocalGateway,
        node: ClusterNode,
        ownership: Ownership,
        flush: Callable[[], Awaitable[Any]],
    ) -> None:
        self.local = local
        self._flush = flush
        self.node = node
        self.ownership = ownership
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        node.on("call", self._on_call)
        node.on("disconnect", self._on_call)
        node.on("reply", self._on_reply)

    # -- StationGateway ---------------------------------------------------------------------------

    def is_connected(self, station_id: str) -> bool:
        return self.local.is_connected(station_id)

    async def connected(self, station_id: str) -> bool:
        if self.local.is_connected(station_id):
            return True
        try:
            return await self.ownership.owner(station_id) is not None
        except (RedisError, OSError) as exc:
            unless_cancelled()
            raise _unavailable(station_id, exc) from exc

    async def connected_among(self, station_ids: list[str]) -> set[str]:
        here = {s for s in station_ids if self.local.is_connected(s)}
        try:
            return here | set(await self.ownership.owners(station_ids))
        except (RedisError, OSError):
            unless_cancelled()
            return here

    async def call(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        if self.local.is_connected(station_id):
            return await self.local.call(station_id, action, payload, timeout)
        wait = timeout or self.local.default_timeout
        message = {"t": "call", "s": station_id, "a": action, "p": payload, "to": wait}
        reply = await self._route(station_id, message, wait + ROUTING_MARGIN)
        if "ok" in reply:
            return reply["ok"]  # type: ignore[no-any-return]
        raise _error(reply)

    async def disconnect(self, station_id: str, reason: str) -> bool:
        if self.local.is_connected(station_id):
            return await self.local.disconnect(station_id, reason)
        try:
            reply = await self._route(
                station_id, {"t": "disconnect", "s": station_id, "r": reason}, ROUTING_MARGIN
            )
        except (StationNotConnected, StationTimeout):
            return False
        return bool(reply.get("ok"))

    # -- caller side ------------------------------------------------------------------------------

    async def _route(self, station_id: str, message: dict[str, Any], wait: float) -> dict[str, Any]:
        try:
            owner = await self.ownership.owner(station_id)
        except (RedisError, OSError) as exc:
            unless_cancelled()
            raise _unavailable(station_id, exc) from exc
        if owner is None or owner == self.node.name:
            # Ours per Redis but not in the registry: it just disconnected.
            raise StationNotConnected(f"Station {station_id} is not connected")
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            try:
                receivers = await self.node.send(
                    owner, {**message, "id": request_id, "from": self.node.name}
                )
            except (RedisError, OSError) as exc:
                unless_cancelled()
                raise _unavailable(station_id, exc) from exc
            if receivers == 0:
                # The owner's lease has not run out yet, but the node is gone.
                raise StationNotConnected(
                    f"Station {station_id} is not connected (its node {owner} left)"
                )
            try:
                async with asyncio.timeout(wait):
                    return await future
            except TimeoutError:
                raise StationTimeout(
                    f"No answer from station {station_id} through node {owner} within {wait:g} s"
                ) from None
        finally:
            self._waiting.pop(request_id, None)

    def _on_reply(self, message: dict[str, Any]) -> None:
        future = self._waiting.get(message["id"])
        if future is not None and not future.done():
            future.set_result(message)

    # -- owner side -------------------------------------------------------------------------------

    def _on_call(self, message: dict[str, Any]) -> None:
        task = asyncio.create_task(self._serve(message))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, message: dict[str, Any]) -> None:
        station_id = message["s"]
        reply: dict[str, Any] = {"t": "reply", "id": message["id"]}
        try:
            if message["t"] == "disconnect":
                reply["ok"] = await self.local.disconnect(station_id, message["r"])
            else:
                reply["ok"] = await self.local.call(
                    station_id, message["a"], message["p"], message["to"]
                )
        except StationCallError as exc:
            reply.update(err="call", code=exc.code, desc=exc.description, details=exc.details)
        except StationTimeout as exc:
            reply.update(err="timeout", msg=str(exc))
        except StationNotConnected as exc:
            reply.update(err="gone", msg=str(exc))
        except Exception as exc:
            log.exception("routed %s to %s failed", message.get("a"), station_id)
            reply.update(err="gone", msg=f"Station {station_id}: {exc}")
        try:
            # The message log of this exchange is written here; commit it before the caller
            # (maybe reading the log next) gets the answer, as on one node.
            async with asyncio.timeout(ROUTING_MARGIN / 2):
                await self._flush()
        except Exception as exc:
            log.info("routed %s: message log not committed before the reply (%s)", station_id, exc)
        with contextlib.suppress(RedisError, OSError):
            # If Redis is down the caller times out (504): the station's answer is lost to it.
            await self.node.send(message["from"], reply)

    async def stop(self) -> None:
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)


def _error(reply: dict[str, Any]) -> GatewayError:
    kind = reply.get("err")
    if kind == "call":
        return StationCallError(reply["code"], reply["desc"], reply.get("details") or {})
    if kind == "timeout":
        return StationTimeout(reply["msg"])
    return StationNotConnected(reply.get("msg") or "Station is not connected")
