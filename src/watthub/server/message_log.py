"""The per-station message log: rows go to the writer as loss-tolerant writes, coalesced into one
INSERT per batch; the log must never slow down or block the answer to a station."""

from __future__ import annotations

import orjson

from watthub.ocppj.config_keys import AUTHORIZATION_KEY, same_key
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
        if "\x00" in text:
            # A raw NUL byte (not valid JSON, answered FormationViolation) is kept visible but
            # storable: PostgreSQL refuses NUL in text, and one bad row fails its whole batch.
            text = text.replace("\x00", "\\u0000")
        if action is not None and "\x00" in action:
            action = action.replace("\x00", "\\u0000")
        if message_id is not None and "\x00" in message_id:
            message_id = message_id.replace("\x00", "\\u0000")
        if action in _REDACTED_ACTIONS:
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


# Frames that can carry the station password: ChangeConfiguration (the CALL) and GetConfiguration
# (a station that wrongly reports the key in its answer). Rare, so parsed every time: a text search
# would miss ``authorizationkey`` or a JSON-escaped spelling.
_REDACTED_ACTIONS = frozenset({"ChangeConfiguration", "GetConfiguration"})
_REDACTED = "***redacted***"


def _redact_authorization_key(text: str) -> str:
    """The station password never reaches the message log (whitepaper A01.FR.09)."""
    try:
        frame = orjson.loads(text)
        payload = frame[3] if frame[0] == 2 else frame[2]
        changed = False
        if same_key(payload.get("key"), AUTHORIZATION_KEY) and "value" in payload:
            payload["value"] = _REDACTED
            changed = True
        for entry in payload.get("configurationKey") or ():
            if same_key(entry.get("key"), AUTHORIZATION_KEY) and "value" in entry:
                entry["value"] = _REDACTED
                changed = True
        if changed:
            return orjson.dumps(frame).decode()
    except (orjson.JSONDecodeError, IndexError, TypeError, AttributeError, KeyError):
        pass
    return text
