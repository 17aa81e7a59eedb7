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

import asyncio
import time
from typing import Any

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
        self._batch = batch
        self._rows: dict[str, tuple[float, Row]] = {}
        self._pending: dict[str, list[asyncio.Future[Row | None]]] = {}
        self._loader: asyncio.Task[None] | None = None
        # Bumped by every invalidation: a load that overlapped one must not store its rows.
        self._generation = 0
        self.loads = 0  # queries run (for tests and metrics)

    def __len__(self) -> int:
        return len(self._rows)

    async def get(self, station_id: str) -> Row | None:
        hit = self._rows.get(station_id)
        if hit is not None and hit[0] > time.monotonic():
            return dict(hit[1])
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(station_id, []).append(future)
        if self._loader is None or self._loader.done():
            self._loader = asyncio.create_task(self._load(), name="watthub-station-cache")
        row = await future
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

    async def _load(self) -> None:
        # Let every handshake that is ready in this loop iteration queue its id first.
        await asyncio.sleep(0)
        while self._pending:
            ids = list(self._pending)[: self._batch]
            waiters = {sid: self._pending.pop(sid) for sid in ids}
            generation = self._generation
            try:
                rows = await self._read(lambda conn, ids=ids: stations_repo.get_stations(conn, ids))
            except Exception as exc:
                for futures in waiters.values():
                    for f in futures:
                        if not f.done():
                            f.set_exception(exc)
                continue
            self.loads += 1
            by_id = {r["id"]: r for r in rows}
            store = generation == self._generation
            for sid, futures in waiters.items():
                row = by_id.get(sid)
                if row is not None and store:
                    self.put(row)
                for f in futures:
                    if not f.done():
                        f.set_result(row)
