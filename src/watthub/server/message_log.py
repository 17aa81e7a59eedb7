"""The per-station message log: rows go to the writer as loss-tolerant tuple writes, coalesced into
one INSERT per batch; the log must never slow down or block the answer to a station."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson

from watthub.ocppj.config_keys import AUTHORIZATION_KEY, same_key
from watthub.ocppj.frames import CALL
from watthub.storage.tables import message_log
from watthub.storage.writer import BatchWriter

COLUMNS = (
    "station_id",
    "direction",
    "message_type",
    "action",
    "message_id",
    "payload",
    "created_at",
    "answer_type",
    "answer_payload",
    "answer_delay_us",
)


class MessageLogger:
    """One row per frame, except an inbound exchange: the station's CALL and our answer are one
    row (half the rows and index entries on the hot path), written when the answer is sent.
    The API lists such a row as its two frames (``storage/messages_repo.py``)."""

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
        at: float | None = None,
    ) -> None:
        """One frame alone (``at``: when it was read, ``time.time()``; default now)."""
        if not self._enabled:
            return
        action, message_id = _clean_id(action), _clean_id(message_id)
        self._writer.post_tuple(
            message_log,
            COLUMNS,
            (
                station_id,
                direction,
                message_type,
                action,
                message_id,
                _text(frame, action),
                _utc(time.time() if at is None else at),
                None,
                None,
                None,
            ),
        )

    def exchange(
        self,
        station_id: str,
        action: str,
        message_id: str,
        frame: bytes,
        received: float,
        answer_type: int,
        answer: bytes,
        answered: float,
    ) -> None:
        """A station's CALL (read at ``received``) and our answer (sent at ``answered``)."""
        if not self._enabled:
            return
        action, message_id = _clean_id(action), _clean_id(message_id)  # type: ignore[assignment]
        self._writer.post_tuple(
            message_log,
            COLUMNS,
            (
                station_id,
                "in",
                CALL,
                action,
                message_id,
                _text(frame, action),
                _utc(received),
                answer_type,
                _text(answer, action),
                # The answer's time as an offset: one timestamp to convert per row, not two.
                max(0, round((answered - received) * 1e6)),
            ),
        )


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _clean_id(value: str | None) -> str | None:
    if not value:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\\u0000")
    return value[:64]


def _text(frame: bytes | str, action: str | None) -> str:
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    if "\x00" in text:
        # A raw NUL byte (not valid JSON, answered FormationViolation) is kept visible but
        # storable: PostgreSQL refuses NUL in text, and one bad row fails its whole batch.
        text = text.replace("\x00", "\\u0000")
    if action in _REDACTED_ACTIONS:
        text = _redact_authorization_key(text)
    return text


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
