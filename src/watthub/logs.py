"""Logging set-up: one readable line per event with the station id; JSON lines as an option.

Two defences live here, used by every handler WattHub installs:

* **No log forging.** Station identities, action names, payload excerpts and headers come from
  the outside. A ``%0A`` in a station path would otherwise start a forged line, an ANSI escape
  would repaint the operator's terminal. :class:`SafeFormatter` escapes every control character
  (C0, DEL, C1, the Unicode line/paragraph separators) in the formatted *message*; tracebacks,
  which are ours, keep their lines. :func:`safe` does the same for text put anywhere else.
* **One line per problem per interval.** :class:`Throttle` turns a storm of the same failure (a
  stalled database under thousands of stations) into one line per interval with a count, instead
  of a traceback per message.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from typing import Any

import orjson

from watthub.timeutil import now_ts

# \x00-\x1f and \x7f-\x9f, plus NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR (line breaks too).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``...): one visible line."""
    value = text if isinstance(text, str) else str(text)
    return _CONTROL.sub(_escape, value) if _CONTROL.search(value) else value


class SafeFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose messages cannot span lines or carry terminal escapes."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = safe(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": now_ts(),
            "level": record.levelname,
            "logger": record.name,
            "msg": safe(record.getMessage()),
        }
        station = getattr(record, "station", None)
        if station is not None:
            entry["station"] = safe(station)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO", json_output: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_output else SafeFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Connection chatter of the libraries would drown our own one-line-per-event log.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class Throttle:
    """At most one log line per ``key`` and ``interval``; the suppressed ones are counted.

    ``throttle.log(logger, key, level, msg, *args, exc_info=...)`` logs at once if ``key`` has not
    been logged within the interval, adding "(N more like it since the last line)"; otherwise it
    only counts. A traceback (``exc_info``) is attached to the first line of each interval only."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()  # the writer's commit thread logs too

    def log(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        key: str,
        level: int,
        msg: str,
        *args: Any,
        exc_info: Any = None,
    ) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
            if len(self._last) > 1000:  # keys are problem kinds, but never let them pile up
                self._last = {k: v for k, v in self._last.items() if now - v < self.interval}
        if suppressed:
            msg += " (%d more like it in the last %.0f s)"
            args = (*args, suppressed, now - last if last is not None else self.interval)
        logger.log(level, msg, *args, exc_info=exc_info)
        return True


# One for the whole process: the problems it counts (database down, unstorable writes) are
# shared by every station.
throttle = Throttle()
