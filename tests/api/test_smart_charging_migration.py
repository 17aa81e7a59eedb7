"""`watthub db upgrade` creates the Smart Charging tables on a fresh SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from watthub.cli import main


def test_db_upgrade_creates_smart_charging_tables(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "fresh.db"
    monkeypatch.setenv("WATTHUB_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert {
        "charging_profiles",
        "installed_charging_profiles",
        "sites",
        "site_stations",
        "site_allocations",
    } <= tables
    assert version == "0301"
