"""The audit trail: who (user or API token) sent which command to which station, when, and
what came back. ``domain.commands.send_command`` calls :func:`record` for every command sent
on behalf of an operator (``domain.actor.current_actor`` is set by the API's authentication);
commands WattHub sends on its own (site limits after a boot, campaign steps not started by a
request) have no actor and are not in the operator audit trail.

Payloads and answers are stored as JSON summaries with secrets redacted (the AuthorizationKey
a ChangeConfiguration carries, password fields), keys compared case-insensitively."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from watthub.domain.actor import Actor
from watthub.domain.context import Services
from watthub.domain.events import COMMAND_SENT
from watthub.storage.tables_auth import audit_log
from watthub.timeutil import format_ts, utcnow

log = logging.getLogger("watthub.audit")

REDACTED = "***redacted***"
# Field names (anywhere in a payload) and configuration keys (ChangeConfiguration key/value,
# GetConfiguration answers) whose values are secrets; compared trimmed and case-folded.
_SECRET_WORDS = ("authorizationkey", "password", "secret", "privatekey")
_CLIP = 4000


def _is_secret(name: str) -> bool:
    folded = name.strip().casefold()
    return any(word in folded for word in _SECRET_WORDS)


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret replaced by ``***redacted***``."""
    if isinstance(value, list):
        return [redact(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        out[key] = REDACTED if isinstance(key, str) and _is_secret(key) else redact(item)
    # {"key": "AuthorizationKey", "value": "..."}: the name is in one field, the secret in another.
    name = value.get("key")
    if isinstance(name, str) and _is_secret(name) and "value" in out:
        out["value"] = REDACTED
    return out


def summary(value: Any) -> str:
    text = orjson.dumps(redact(value), default=str).decode()
    return text if len(text) <= _CLIP else text[: _CLIP - 15] + "...(clipped)"


async def record(
    services: Services,
    actor: Actor,
    station_id: str,
    action: str,
    payload: dict[str, Any],
    result: str,
    answer: Any,
) -> None:
    """Store one entry durably and emit ``command_sent``. ``result``: ok (the station
    answered), refused (WattHub did not send it), failed (not connected, timeout, CALLERROR)."""
    now = utcnow()
    answer_text = answer if isinstance(answer, str) else summary(answer)
    row = {
        "created_at": now,
        "actor_kind": actor.kind,
        "actor": actor.name[:100],
        "action": action[:64],
        "station_id": station_id[:255],
        "payload": summary(payload),
        "result": result,
        "answer": answer_text,
    }
    try:
        await services.writer.insert(audit_log, [row])
    except Exception:
        # The command itself already happened; losing its audit line must not hide the answer.
        log.exception(
            "could not record %s by %s %s on %s", action, actor.kind, actor.name, station_id
        )
    services.events.emit(
        COMMAND_SENT,
        actor=actor.name,
        actor_kind=actor.kind,
        station_id=station_id,
        action=action,
        result=result,
        answer=answer_text,
        at=format_ts(now),
    )
