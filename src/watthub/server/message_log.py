"""Buffers message-log rows and writes them in one INSERT per writer batch; the log must never
slow down or block the answer to a station."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage import messages_repo
from watthub.storage.writer import BatchWriter
from watthub.timeutil import utcnow


class MessageLogger:
    def __init__(self, writer: BatchWriter, enabled: bool = True) -> None:
        self._writer = writer
        self._enabled = enabled
        self._rows: list[dict[str, Any]] = []

    def record(
        self,
        station_id: str,
        direction: str,
        message_type: int,
        action: str | None,
        message_id: str | None,
        frame: bytes | str,
    ) -> None:
        if not self._enabled:
            return
        if not self._rows:
            self._writer.post(self._flush)
        text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
        self._rows.append(
            {
                "station_id": station_id,
                "direction": direction,
                "message_type": message_type,
                "action": action,
                "message_id": message_id[:64] if message_id else None,
                "payload": text,
                "created_at": utcnow(),
            }
        )

    async def _flush(self, conn: AsyncConnection) -> None:
        rows, self._rows = self._rows, []
        await messages_repo.insert_messages(conn, rows)
