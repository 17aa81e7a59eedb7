"""Connected stations of this process."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watthub.server.session import StationSession


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, StationSession] = {}

    def get(self, station_id: str) -> StationSession | None:
        return self._sessions.get(station_id)

    def put(self, session: StationSession) -> StationSession | None:
        """Register ``session``; returns the session it replaces, if any."""
        previous = self._sessions.get(session.station_id)
        self._sessions[session.station_id] = session
        return previous

    def remove(self, session: StationSession) -> None:
        # Only if it is still the registered one: a replaced session must not evict its successor.
        if self._sessions.get(session.station_id) is session:
            del self._sessions[session.station_id]

    def all(self) -> list[StationSession]:
        return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)
