"""WattHub as a cluster of nodes coordinated through Redis (docs/cluster.md).

:class:`Cluster` bundles what ``WattHub.start`` plugs in when ``redis_url`` is set: the node
(connections, mailbox, event and invalidation relay), station ownership, the routing gateway and
the leases. Without ``redis_url`` none of this exists and WattHub runs exactly as one process."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from watthub.cluster.leases import RedisLeases
from watthub.cluster.node import ClusterNode
from watthub.cluster.ownership import Ownership
from watthub.cluster.routing import ClusterGateway
from watthub.gateway import LocalGateway

if TYPE_CHECKING:
    from watthub.domain.context import Services
    from watthub.server.session import StationSession

log = logging.getLogger("watthub.cluster")


async def _nothing(conn: Any) -> None:
    return None


class Cluster:
    def __init__(self, services: Services, local: LocalGateway) -> None:
        self.node = ClusterNode(services.settings, services.events, services.invalidation)
        self.ownership = Ownership(self.node)
        self.gateway = ClusterGateway(
            local, self.node, self.ownership, lambda: services.writer.run(_nothing)
        )
        self.leases = RedisLeases(self.node)

    @property
    def name(self) -> str:
        return self.node.name

    async def start(self) -> None:
        await self.node.start()
        self.ownership.start()
        log.info("cluster node %s (prefix %s)", self.node.name, self.node.prefix)

    async def stop(self) -> None:
        await self.gateway.stop()
        await self.ownership.stop()
        await self.node.stop()

    # Connection observer (server/ws_server.py): called when a station's socket opens/closes.
    async def station_connected(self, session: StationSession) -> None:
        await self.ownership.claim(session)

    async def station_disconnected(self, session: StationSession) -> None:
        await self.ownership.release(session)

    async def health(self) -> dict[str, Any]:
        """``{"mode", "node", "redis", "subscribed", "redisLatencyMs", "droppedMessages",
        "stations"}``: a readiness check wants ``redis`` true."""
        return {**await self.node.health(), "stations": len(self.ownership)}


async def single_node_health(name: str, stations: int) -> dict[str, Any]:
    """The same shape for one process without Redis (nothing to be unhealthy about)."""
    await asyncio.sleep(0)
    return {"mode": "single", "node": name, "redis": None, "stations": stations}
