"""The one door through which every command reaches a station.

API, CLI and domain code call :class:`StationGateway`; today :class:`LocalGateway` finds the
station's session in this process. A multi-node deployment swaps in a gateway that routes the call
through Redis to the node holding the connection, without touching any caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from watthub.server.registry import SessionRegistry


class GatewayError(Exception):
    """Base of the errors a command can end with."""


class StationNotConnected(GatewayError):
    pass


class StationTimeout(GatewayError):
    pass


class ClusterUnavailable(GatewayError):
    """The station is not on this node and the cluster (Redis) cannot be reached to find it."""


class StationCallError(GatewayError):
    """The station answered with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


class StationGateway(Protocol):
    def is_connected(self, station_id: str) -> bool:
        """Connected to *this* process (no I/O). Use :meth:`connected` for the whole cluster."""
        ...

    async def connected(self, station_id: str) -> bool:
        """Connected to any node. Raises :class:`ClusterUnavailable` when that cannot be known."""
        ...

    async def connected_among(self, station_ids: list[str]) -> set[str]:
        """Which of ``station_ids`` are connected anywhere (for lists; best effort: only this
        node's stations when the cluster cannot be reached)."""
        ...

    async def call(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]: ...

    async def disconnect(self, station_id: str, reason: str) -> bool: ...


class LocalGateway:
    def __init__(self, registry: SessionRegistry, default_timeout: float) -> None:
        self._registry = registry
        self.default_timeout = default_timeout

    def is_connected(self, station_id: str) -> bool:
        return self._registry.get(station_id) is not None

    async def connected(self, station_id: str) -> bool:
        return self.is_connected(station_id)

    async def connected_among(self, station_ids: list[str]) -> set[str]:
        return {s for s in station_ids if self.is_connected(s)}

    async def call(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        session = self._registry.get(station_id)
        if session is None:
            raise StationNotConnected(f"Station {station_id} is not connected")
        return await session.call(action, payload, timeout or self.default_timeout)

    async def disconnect(self, station_id: str, reason: str) -> bool:
        session = self._registry.get(station_id)
        if session is None:
            return False
        await session.close(reason)
        return True
