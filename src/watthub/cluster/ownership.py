"""Which node holds which station: ``P:owner:{station}`` = ``node|token`` with a lease.

* A station connects → the node writes its claim (``SET ... PX lease GET``). If another node held
  it, that node is told to close its (older) socket: the newer connection wins, cluster-wide.
* Every ``lease / 3`` seconds the node renews the claims of the stations it holds. A claim that
  now names someone else means a newer connection elsewhere (and the "close" message was lost):
  the node closes its socket. A claim that vanished (Redis restarted, or renewals stalled) is
  written again — the node still holds the socket.
* The station disconnects → the claim is deleted, but only if it is still ours.
* A node that dies stops renewing: its claims expire within one lease, so the station is
  "connected nowhere" (409) until it reconnects, to any node.

Redis down: claims cannot be written, the node keeps serving its stations, and the renewal
loop writes them all again when Redis is back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from watthub.aio import stop_task
from watthub.cluster.leases import RELEASE_IF_MINE
from watthub.cluster.node import ClusterNode, unless_cancelled

if TYPE_CHECKING:
    from watthub.server.session import StationSession

log = logging.getLogger("watthub.cluster")

# KEYS = owner keys, ARGV[1] = lease ms, ARGV[2..] = our values. Returns the indexes (1-based)
# of the stations someone else holds now.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  local mine = ARGV[i + 1]
  local now = redis.call('GET', key)
  if now == mine then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not now then
    redis.call('SET', key, mine, 'PX', ARGV[1])
  else
    table.insert(lost, i)
  end
end
return lost
"""


class Ownership:
    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        # station id → (our claim value, the session it belongs to)
        self._claims: dict[str, tuple[str, StationSession]] = {}
        self._renew = node.redis.register_script(_RENEW)
        self._release = node.redis.register_script(RELEASE_IF_MINE)
        self._task: asyncio.Task[None] | None = None
        node.on("close", self._on_close)

    def __len__(self) -> int:
        return len(self._claims)

    def key(self, station_id: str) -> str:
        return self.node.key("owner", station_id)

    def start(self) -> None:
        self._task = asyncio.create_task(self._renew_loop(), name="watthub-cluster-ownership")

    async def stop(self) -> None:
        await stop_task(self._task)

    # -- connect / disconnect ---------------------------------------------------------------------

    async def claim(self, session: StationSession) -> None:
        station_id = session.station_id
        value = f"{self.node.name}|{uuid.uuid4().hex[:12]}"
        self._claims[station_id] = (value, session)
        try:
            previous = await self.node.redis.set(
                self.key(station_id), value, px=self._lease_ms(), get=True
            )
        except (RedisError, OSError) as exc:
            unless_cancelled()
            log.warning("[%s] could not record the claim in Redis (%s)", station_id, exc)
            return
        if previous is None:
            return
        old = previous.decode()
        old_node = old.split("|", 1)[0]
        if old_node != self.node.name:
            # The newer connection wins: the node holding the old socket closes it.
            with contextlib.suppress(RedisError, OSError):
                await self.node.send(old_node, {"t": "close", "s": station_id, "v": old})
            log.info("[%s] took over from node %s", station_id, old_node)

    async def release(self, session: StationSession) -> None:
        station_id = session.station_id
        claim = self._claims.get(station_id)
        if claim is None or claim[1] is not session:
            return  # a newer session of this station (here) holds the claim now
        del self._claims[station_id]
        try:
            await self._release(keys=[self.key(station_id)], args=[claim[0]])
        except (RedisError, OSError) as exc:
            unless_cancelled()
            log.info("[%s] claim not released (%s); it expires with its lease", station_id, exc)

    def _on_close(self, message: dict[str, Any]) -> None:
        claim = self._claims.get(message["s"])
        if claim is None or claim[0] != message["v"]:
            return
        self._supersede(message["s"], claim[1])

    def _supersede(self, station_id: str, session: StationSession) -> None:
        claim = self._claims.get(station_id)
        if claim is not None and claim[1] is session:
            del self._claims[station_id]
        log.info("[%s] a newer connection on another node replaces this one", station_id)
        task = asyncio.create_task(session.close("replaced by a new connection"))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    # -- lookups ----------------------------------------------------------------------------------

    async def owner(self, station_id: str) -> str | None:
        """The node holding ``station_id`` (raises RedisError/OSError when Redis is down)."""
        value = await self.node.redis.get(self.key(station_id))
        return value.decode().split("|", 1)[0] if value is not None else None

    async def owners(self, station_ids: list[str]) -> dict[str, str]:
        if not station_ids:
            return {}
        values = await self.node.redis.mget([self.key(s) for s in station_ids])
        return {
            s: v.decode().split("|", 1)[0]
            for s, v in zip(station_ids, values, strict=True)
            if v is not None
        }

    # -- renewal ----------------------------------------------------------------------------------

    def _lease_ms(self) -> int:
        return int(self.node.lease * 1000)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.node.lease / 3)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:
                unless_cancelled()
                log.debug("claim renewal failed: %s", exc)

    async def renew(self) -> None:
        claims = list(self._claims.items())
        for start in range(0, len(claims), 500):
            chunk = claims[start : start + 500]
            lost = await self._renew(
                keys=[self.key(station_id) for station_id, _ in chunk],
                args=[self._lease_ms(), *(value for _, (value, _s) in chunk)],
            )
            for index in lost:
                station_id, (_value, session) = chunk[int(index) - 1]
                self._supersede(station_id, session)
