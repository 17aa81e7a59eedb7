"""logs.py: escaping of outside text and one line per problem per interval."""

from __future__ import annotations

import io
import logging
import time

from watthub.logs import SafeFormatter, Throttle, safe


def test_safe_escapes_every_control_character() -> None:
    text = "X\n2026-01-01 ERROR forged\r\x1b[2J\x00\x7f\x85\u2028end é"
    escaped = safe(text)
    assert escaped == "X\\n2026-01-01 ERROR forged\\r\\x1b[2J\\x00\\x7f\\x85\\u2028end é"
    assert safe("plain text") == "plain text"


def test_formatter_keeps_one_event_on_one_line_but_tracebacks_intact() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("watthub.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("[%s] refused", "CP\n2026 ERROR forged")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "WARNING [CP\\n2026 ERROR forged] refused"
    assert lines[1] == "ERROR failed"
    assert lines[2].startswith("Traceback") and lines[-1] == "ValueError: boom"


def test_throttle_logs_once_per_interval_with_a_count() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("watthub.test_throttle")
    logger.addHandler(Collect())
    logger.propagate = False
    throttle = Throttle(interval=0.2)
    for i in range(1000):
        throttle.log(logger, "db-down", logging.ERROR, "database down %d", i)
    throttle.log(logger, "other", logging.ERROR, "another problem")
    time.sleep(0.25)
    throttle.log(logger, "db-down", logging.ERROR, "database down %d", 1000)
    assert records[0] == "database down 0"
    assert records[1] == "another problem"
    assert records[2].startswith("database down 1000 (999 more like it in the last")
    assert len(records) == 3
