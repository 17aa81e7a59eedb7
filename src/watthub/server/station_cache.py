"""Station rows for the WebSocket handshake, without a database round trip per connection.

Every handshake needs the station's row (does it exist, its security profile, its password hash).
In a reconnect storm of 10,000 stations, one query each queued up behind the connection pool
(PostgreSQL) until the WebSocket opening timeout cut the stations off. Here:

- rows are kept in memory until a change invalidates them (``services.invalidation``, kinds
  ``STATIONS`` and ``STATION_CREDENTIALS``; every code path that changes a station publishes
  there), with a TTL as a safety net for changes made by another process without a relay;
- concurrent misses are coalesced: the handshakes waiting in one loop iteration are answered by
  one ``SELECT ... WHERE id IN (...)`` (up to ``batch`` ids), so a cold storm costs tens of
  queries, not thousands;
- absence is never cached: a station registered by the CLI or another node is found at once.

Callers get a copy of the row: a session mutates its own dict (boot information)."""

from __future__ import annotations

import time
from typing import Any

from watthub.aio import BatchedLookup
from watthub.storage import stations_repo
from watthub.storage.db import Read

Row = dict[str, Any]


class StationCache:
    def __init__(
        self, read: Read, ttl: float = 300.0, max_entries: int = 200_000, batch: int = 500
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._max = max_entries
        self._rows: dict[str, tuple[float, Row]] = {}
        self._lookup: BatchedLookup[str, Row] = BatchedLookup(self._fetch, batch)
        # Bumped by every invalidation: a load that overlapped one must not store its rows.
        self._generation = 0

    @property
    def loads(self) -> int:
        """Queries run (for tests and metrics)."""
        return self._lookup.fetches

    def __len__(self) -> int:
        return len(self._rows)

    async def get(self, station_id: str) -> Row | None:
        hit = self._rows.get(station_id)
        if hit is not None and hit[0] > time.monotonic():
            return dict(hit[1])
        row = await self._lookup.get(station_id)
        return dict(row) if row is not None else None

    async def reload(self, station_id: str) -> Row | None:
        """The stored row, read now whatever is cached (and cached from now on)."""
        row = (await self._fetch([station_id])).get(station_id)
        return dict(row) if row is not None else None

    def put(self, row: Row) -> None:
        if len(self._rows) >= self._max:
            self._rows.pop(next(iter(self._rows)))  # oldest entry (insertion order)
        self._rows[row["id"]] = (time.monotonic() + self._ttl, dict(row))

    def invalidate(self, station_id: str | None) -> None:
        self._generation += 1
        if station_id is None:
            self._rows.clear()
        else:
            self._rows.pop(station_id, None)

    async def _fetch(self, ids: list[str]) -> dict[str, Row]:
        generation = self._generation
        rows = await self._read(lambda conn: stations_repo.get_stations(conn, ids))
        by_id = {r["id"]: r for r in rows}
        if generation == self._generation:
            for row in rows:
                self.put(row)
        return by_id
