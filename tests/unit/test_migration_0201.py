"""`watthub db upgrade` on a fresh SQLite file creates this branch's tables (revision 0201)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from watthub.cli import main


def test_db_upgrade_creates_feature_tables(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    result = CliRunner().invoke(
        main, ["db", "upgrade"], env={"WATTHUB_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    )
    assert result.exit_code == 0, result.output
    assert "0201" in result.output
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"local_list_state", "reservations", "trigger_requests"} <= names
