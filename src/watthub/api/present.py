"""Database rows → JSON-ready dicts: camelCase keys, timestamps as ISO 8601 UTC with milliseconds.

The API speaks camelCase in both directions (docs/api.md, "Field names"). Database columns are
snake_case; this module is the one place where a row's column names become JSON field names.
Only the row's own keys are renamed: a JSON column (an OCPP payload, a charging profile, a
station's raw frame) is passed through exactly as stored, because OCPP defines its names."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from watthub.timeutil import format_ts

# Secrets, and internal keys (the idempotency keys of transactions and meter values).
_HIDDEN = {"password_hash", "id_tag_norm", "token_hash", "start_key", "sample_key", "reading_key"}


@lru_cache(maxsize=1024)
def camel(name: str) -> str:
    """``station_id`` → ``stationId``; a name without an underscore is left as it is (``id``,
    ``sha256``, an already camelCase ``connectorId``)."""
    if "_" not in name:
        return name
    return to_camel(name)


class ApiModel(BaseModel):
    """Base of every request body: fields written in Python's snake_case are read and shown (in
    OpenAPI) under their camelCase name, and an unknown field — a snake_case name from an older
    client included — is refused with a 422 instead of being dropped silently."""

    model_config = ConfigDict(alias_generator=camel, extra="forbid")


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return format_ts(v)
    return v


def fields(data: dict[str, Any]) -> dict[str, Any]:
    """A hand-built dict with snake_case keys → camelCase keys (one level, values untouched)."""
    return {camel(k): _value(v) for k, v in data.items()}


def row(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {camel(k): _value(v) for k, v in data.items() if k not in _HIDDEN}


def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row(i) for i in items]  # type: ignore[misc]


def message(entry: dict[str, Any]) -> dict[str, Any]:
    out = row(entry) or {}
    try:
        out["frame"] = orjson.loads(out.pop("payload"))
    except orjson.JSONDecodeError:
        out["frame"] = entry["payload"]
    return out
