"""Logging set-up: one readable line per event with the station id; JSON lines as an option."""

from __future__ import annotations

import logging
import sys

import orjson

from watthub.timeutil import now_ts


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": now_ts(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        station = getattr(record, "station", None)
        if station is not None:
            entry["station"] = station
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(level: str = "INFO", json_output: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_output:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Connection chatter of the libraries would drown our own one-line-per-event log.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
