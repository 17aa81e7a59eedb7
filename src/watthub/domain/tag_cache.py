"""An in-process cache of id tags for the authorization hot path.

Authorize, StartTransaction and StopTransaction all look up the presented tag; reading it from
the database each time costs a connection checkout and a query per message. Entries (including
"unknown tag") live for ``ttl`` seconds and are dropped at once when the tag is changed through this
process (API). A change made elsewhere (the CLI, another node) is seen after at most ``ttl``
seconds; a multi-node deployment will publish invalidations instead."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage import tags_repo
from watthub.storage.db import Read

_MISSING = object()


class TagCache:
    def __init__(self, read: Read, ttl: float = 30.0, max_entries: int = 200_000) -> None:
        self._read = read
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()

    async def get(self, id_tag: str, conn: AsyncConnection | None = None) -> dict[str, Any] | None:
        key = tags_repo.normalize(id_tag)
        hit = self._lookup(key)
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        if conn is not None:
            tag = await tags_repo.get_tag(conn, id_tag)
        else:
            tag = await self._read(lambda own: tags_repo.get_tag(own, id_tag))
        self._store(key, tag)
        return tag

    def invalidate(self, id_tag: str | None = None) -> None:
        if id_tag is None:
            self._entries.clear()
        else:
            self._entries.pop(tags_repo.normalize(id_tag), None)

    def _lookup(self, key: str) -> Any:
        if self._ttl <= 0:
            return _MISSING
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return _MISSING
        return entry[1]

    def _store(self, key: str, tag: dict[str, Any] | None) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + self._ttl, tag)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
