"""OCPP-J frames: ``[2, id, action, payload]``, ``[3, id, payload]``, ``[4, id, code, description,
details]`` (OCPP-J §4.1.3). Parsing never raises anything but :class:`FrameError`, so the session can
always answer or drop a bad frame and keep the connection."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from watthub.ocppj.errors import ErrorCode
from watthub.ocppj.schemas import unstorable

CALL = 2
CALLRESULT = 3
CALLERROR = 4
MAX_MESSAGE_ID_LENGTH = 36

# A JSON-escaped NUL: a string holding it cannot be stored (PostgreSQL refuses it in text), so the
# payload is walked for one only when the raw frame contains this escape — one bytes scan per frame.
_NUL_ESCAPE = b"\\u0000"

# A frame that is not JSON may still carry a readable CALL id; answering it beats silence.
_READABLE_CALL_ID = re.compile(rb'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


@dataclass(slots=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(slots=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(slots=True)
class CallError:
    message_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


class FrameError(Exception):
    """A frame we cannot process. ``message_id`` is set when a CALLERROR can be addressed."""

    def __init__(self, code: ErrorCode, description: str, message_id: str | None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.message_id = message_id


def parse_frame(data: bytes | str) -> Frame | None:
    """Parse one WebSocket text frame. ``None`` means an unknown message type, which OCPP-J §4.1.3
    says to ignore."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        match = _READABLE_CALL_ID.match(raw)
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            "Frame is not valid JSON",
            match.group(1).decode() if match else None,
        ) from None
    if not isinstance(msg, list) or not msg:
        raise FrameError(ErrorCode.PROTOCOL_ERROR, "Frame is not a non-empty JSON array", None)
    type_id = msg[0]
    message_id = msg[1] if len(msg) > 1 and isinstance(msg[1], str) else None
    if type(type_id) is not int:
        raise FrameError(ErrorCode.PROTOCOL_ERROR, "MessageTypeId is not an integer", None)
    if type_id == CALL:
        if len(msg) != 4:
            raise FrameError(
                ErrorCode.PROTOCOL_ERROR, "CALL must have 4 elements", _addressable(message_id)
            )
        if message_id is None:
            raise FrameError(ErrorCode.PROTOCOL_ERROR, "Message id is not a string", None)
        if len(message_id) > MAX_MESSAGE_ID_LENGTH:
            raise FrameError(
                ErrorCode.PROTOCOL_ERROR, "Message id is longer than 36 characters", message_id
            )
        action, payload = msg[2], msg[3]
        if not isinstance(action, str) or not action:
            raise FrameError(ErrorCode.PROTOCOL_ERROR, "Action is not a string", message_id)
        if not isinstance(payload, dict):
            raise FrameError(
                ErrorCode.FORMATION_VIOLATION, "Payload is not a JSON object", message_id
            )
        if _NUL_ESCAPE in raw and (bad := unstorable([action, payload])) is not None:
            raise FrameError(bad.code, bad.description, message_id)
        return Call(message_id, action, payload)
    if type_id == CALLRESULT:
        if len(msg) != 3 or message_id is None or not isinstance(msg[2], dict):
            raise FrameError(ErrorCode.PROTOCOL_ERROR, "Malformed CALLRESULT", None)
        if _NUL_ESCAPE in raw and (bad := unstorable(msg[2])) is not None:
            # An answer we could not store is no usable answer: the caller sees an error.
            return CallError(message_id, bad.code, bad.description, bad.details)
        return CallResult(message_id, msg[2])
    if type_id == CALLERROR:
        if len(msg) < 3 or message_id is None:
            raise FrameError(ErrorCode.PROTOCOL_ERROR, "Malformed CALLERROR", None)
        details = msg[4] if len(msg) > 4 and isinstance(msg[4], dict) else {}
        description = msg[3] if len(msg) > 3 and isinstance(msg[3], str) else ""
        return CallError(message_id, str(msg[2]), description, details)
    return None


def _addressable(message_id: str | None) -> str | None:
    return (
        message_id if message_id is not None and len(message_id) <= MAX_MESSAGE_ID_LENGTH else None
    )


def encode_call(message_id: str, action: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([CALL, message_id, action, payload])


def encode_result(message_id: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([CALLRESULT, message_id, payload])


def encode_error(
    message_id: str, code: str, description: str = "", details: dict[str, Any] | None = None
) -> bytes:
    # errorDetails MUST be an object, {} when there is nothing to say (OCPP-J §4.2.3).
    return orjson.dumps([CALLERROR, message_id, str(code), description, details or {}])
