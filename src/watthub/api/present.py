"""Database rows → JSON-ready dicts (timestamps as ISO 8601 UTC with milliseconds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from watthub.timeutil import format_ts

_HIDDEN = {"password_hash", "id_tag_norm", "token_hash"}


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return format_ts(v)
    return v


def row(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {k: _value(v) for k, v in data.items() if k not in _HIDDEN}


def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row(i) for i in items]  # type: ignore[misc]


def message(entry: dict[str, Any]) -> dict[str, Any]:
    out = row(entry) or {}
    try:
        out["frame"] = orjson.loads(out.pop("payload"))
    except orjson.JSONDecodeError:
        out["frame"] = entry["payload"]
    return out
