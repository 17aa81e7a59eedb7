"""`watthub db upgrade` to revision 0401 on a fresh SQLite file, and the `watthub ca` commands
producing a PKI the TLS listener accepts."""

from __future__ import annotations

import sqlite3
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner

from watthub.cli import main
from watthub.config import Settings
from watthub.domain.pki_store import tls_context
from watthub.security import pki
from watthub.storage.db import head_revision


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WATTHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATTHUB_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    monkeypatch.delenv("WATTHUB_CONFIG", raising=False)
    return tmp_path


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_db_upgrade_fresh_sqlite_and_set_profile(env: Path) -> None:
    # The head moves with every migration; the point is that the fresh database reaches it.
    assert f"at revision {head_revision('sqlite://')}" in _ok(["db", "upgrade"])
    _ok(["station", "add", "CP1"])
    _ok(["station", "add", "CP2", "--password", "a-password-123"])
    db = sqlite3.connect(env / "w.db")
    profiles = dict(db.execute("SELECT id, security_profile FROM stations").fetchall())
    assert profiles == {"CP1": 0, "CP2": 1}
    assert "security profile 0 → 2" in _ok(
        ["station", "set-profile", "CP1", "2", "--reason", "new TLS proxy"]
    )
    audit = db.execute("SELECT old_profile, new_profile, via, reason FROM security_profile_changes")
    assert audit.fetchall() == [(0, 2, "operator", "new TLS proxy")]


def test_ca_commands_make_a_working_pki(env: Path) -> None:
    _ok(["ca", "init", "--key-type", "ec-p384"])
    out = _ok(["ca", "issue-server", "csms.test", "--alt", "127.0.0.1"])
    assert "tls_ecdsa_cert_file" in out
    _ok(["ca", "firmware-signing"])
    _ok(["ca", "issue-station", "SN-1", "--out", str(env / "stations")])
    _ok(["ca", "export", "--out", str(env / "stations")])
    listing = _ok(["ca", "list"])
    assert "server-ecdsa.pem" in listing and "firmware-signing.pem" in listing
    pki_dir = env / "data" / "pki"
    server = pki.load_certificates((pki_dir / "server.pem").read_bytes())
    assert pki.summarize_certificate(server[0]).common_name == "csms.test"
    root = (env / "stations" / "central-system-root.pem").read_text()
    assert pki.verify_chain(server[0], [root], server[1:]) is None
    station = pki.load_certificates((env / "stations" / "station-SN-1.pem").read_bytes())
    assert pki.summarize_certificate(station[0]).common_name == "SN-1"
    settings = Settings(
        data_dir=env / "data",
        tls_port=0,
        tls_cert_file=pki_dir / "server.pem",
        tls_key_file=pki_dir / "server.key",
        tls_ecdsa_cert_file=pki_dir / "server-ecdsa.pem",
        tls_ecdsa_key_file=pki_dir / "server-ecdsa.key",
        tls_client_ca_file=pki_dir / "root-ca.pem",
    )
    ctx = tls_context(settings)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
