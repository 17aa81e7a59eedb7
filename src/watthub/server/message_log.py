"""The per-station message log: rows go to the writer as loss-tolerant writes, coalesced into one
INSERT per batch; the log must never slow down or block the answer to a station."""

from __future__ import annotations

import orjson

from watthub.storage.tables import message_log
from watthub.storage.writer import BatchWriter
from watthub.timeutil import utcnow


class MessageLogger:
    def __init__(self, writer: BatchWriter, enabled: bool = True) -> None:
        self._writer = writer
        self._enabled = enabled

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
        text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
        if action == "ChangeConfiguration" and "AuthorizationKey" in text:
            text = _redact_authorization_key(text)
        self._writer.post_rows(
            message_log,
            [
                {
                    "station_id": station_id,
                    "direction": direction,
                    "message_type": message_type,
                    "action": action[:64] if action else None,
                    "message_id": message_id[:64] if message_id else None,
                    "payload": text,
                    "created_at": utcnow(),
                }
            ],
        )


def _redact_authorization_key(text: str) -> str:
    """The station password never reaches the message log (whitepaper A01.FR.09)."""
    try:
        frame = orjson.loads(text)
        payload = frame[3]
        if payload.get("key") == "AuthorizationKey" and "value" in payload:
            payload["value"] = "***redacted***"
            return orjson.dumps(frame).decode()
    except (orjson.JSONDecodeError, IndexError, TypeError, AttributeError):
        pass
    return text
