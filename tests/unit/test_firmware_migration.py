"""Migration 0101 creates the Firmware Management tables on a fresh SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from watthub.cli import main


def test_db_upgrade_creates_firmware_tables(tmp_path: Path, monkeypatch: object) -> None:
    db_file = tmp_path / "fresh.db"
    result = CliRunner().invoke(
        main,
        ["db", "upgrade"],
        env={"WATTHUB_DATABASE_URL": f"sqlite+aiosqlite:///{db_file}"},
    )
    assert result.exit_code == 0, result.output
    assert "0101" in result.output
    with sqlite3.connect(db_file) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "firmware_images",
        "firmware_status_events",
        "firmware_updates",
        "diagnostics_requests",
        "diagnostics_files",
        "firmware_campaigns",
        "firmware_campaign_stations",
    } <= tables
