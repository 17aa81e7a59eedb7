"""The ``watthub`` command line, run as a real subprocess against a temporary SQLite database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chargepoint import TestChargePoint, open_station_socket
from tests.support.processes import SERVE, free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = dict(os.environ)
    out.pop("WATTHUB_CONFIG", None)
    out.update(
        PYTHONPATH=str(ROOT / "src"),
        WATTHUB_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        WATTHUB_DATA_DIR=str(tmp_path / "data"),
    )
    return out


def run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "watthub", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def test_db_upgrade_station_tag_and_token_commands(env: dict[str, str], tmp_path: Path) -> None:
    upgraded = run(env, "db", "upgrade")
    assert "revision" in upgraded.stdout
    run(env, "db", "upgrade")  # idempotent

    run(env, "station", "add", "CP1", "--description", "Lobby", "--heartbeat", "60")
    run(env, "station", "add", "CP2", "--password", "secret-pass-1", "--lenient")
    duplicate = run(env, "station", "add", "CP1", ok=False)
    assert duplicate.returncode != 0
    listed = run(env, "station", "list").stdout
    assert "CP1" in listed and "CP2" in listed
    shown = run(env, "station", "show", "CP2").stdout
    assert "CP2" in shown and "lenient" in shown
    assert "secret-pass-1" not in shown
    missing = run(env, "station", "show", "NOPE", ok=False)
    assert missing.returncode != 0 and "NOPE" in (missing.stdout + missing.stderr)

    run(env, "tag", "add", "TAG1", "--status", "Blocked")
    tags_csv = tmp_path / "tags.csv"
    tags_csv.write_text(
        "idTag,status,expiryDate,parentIdTag\n"
        "IMP1,Accepted,2030-01-01T00:00:00Z,GROUP\n"
        "imp2,,,\n"
        "tag1,Accepted,,\n"
    )
    imported = run(env, "tag", "import", str(tags_csv))
    assert "3" in imported.stdout
    tags = run(env, "tag", "list").stdout
    assert "IMP1" in tags and "imp2" in tags and "GROUP" in tags
    # TAG1 was updated case-insensitively by the import, not duplicated.
    assert tags.lower().count("tag1") == 1
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("idTag,status\nX,Sleeping\n")
    bad = run(env, "tag", "import", str(bad_csv), ok=False)
    assert bad.returncode != 0 and "Sleeping" in bad.stderr

    token = run(env, "token", "create", "ci").stdout.strip()
    assert len(token) >= 20 and " " not in token


def test_serve_refuses_an_unmigrated_database(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "watthub", "serve", "--no-migrate"],
        env={**env, "WATTHUB_OCPP_PORT": str(free_port()), "WATTHUB_API_PORT": str(free_port())},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    message = (result.stdout + result.stderr).lower()
    assert "db upgrade" in message or "migrat" in message, message
    assert "traceback" not in message


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[tuple[dict[str, str], int, int]]:
    ocpp_port, api_port = free_port(), free_port()
    env = {**env, "WATTHUB_OCPP_PORT": str(ocpp_port), "WATTHUB_API_PORT": str(api_port)}
    process = subprocess.Popen(
        [*SERVE, "--migrate"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(api_port, process, why=lambda: process.stdout.read() if process.stdout else "")
        yield env, ocpp_port, api_port
    finally:
        stop(process)


async def test_send_through_a_running_server(server: tuple[dict[str, str], int, int]) -> None:
    env, ocpp_port, api_port = server
    await asyncio.to_thread(run, env, "station", "add", "CP1")
    token = (await asyncio.to_thread(run, env, "token", "create")).stdout.strip()
    ws = await open_station_socket(f"ws://127.0.0.1:{ocpp_port}/ocpp/CP1")
    cp = TestChargePoint("CP1", ws)
    task = asyncio.create_task(cp.start())
    try:
        assert (await cp.boot()).status == "Accepted"
        cli_env = {
            **env,
            "WATTHUB_API_URL": f"http://127.0.0.1:{api_port}/api/v1",
            "WATTHUB_API_TOKEN": token,
        }
        sent = await asyncio.to_thread(run, cli_env, "send", "CP1", "Reset", '{"type": "Soft"}')
        assert json.loads(sent.stdout) == {"status": "Accepted"}
        assert (await cp.wait_for("Reset")) == {"type": "Soft"}
        refused = await asyncio.to_thread(
            run, cli_env, "send", "CP1", "Reset", '{"type": "Medium"}', ok=False
        )
        assert refused.returncode != 0 and "422" in refused.stderr
    finally:
        task.cancel()
        await ws.close()


def test_cli_refuses_what_the_api_refuses(env: dict[str, str]) -> None:
    """Same rules as the API: no id a station could never connect with, no unusable values."""
    run(env, "db", "upgrade")
    for args, hint in [
        (("station", "add", "a/b"), "/"),
        (("station", "add", "CP1", "--password", "short"), "8"),
        (("station", "add", "CP1", "--heartbeat", "0"), "heartbeat"),
        (("tag", "add", "X" * 21), "20"),
        (("tag", "add", "TAG1", "--expiry", "notadate"), "notadate"),
    ]:
        result = run(env, *args, ok=False)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert hint in result.stderr.lower() or hint in result.stderr, (args, result.stderr)
    assert "CP1" not in run(env, "station", "list").stdout
    assert "TAG1" not in run(env, "tag", "list").stdout
    shown = run(env, "station", "add", "CP1") and run(env, "station", "show", "CP1").stdout
    assert json.loads(shown)["createdAt"].endswith("Z")


def test_send_without_a_server_says_so(env: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{free_port()}/api/v1"
    result = run(
        env, "send", "CP1", "Reset", '{"type": "Soft"}', "--token", "t", "--api-url", base, ok=False
    )
    assert result.returncode != 0
    assert "Cannot reach" in result.stderr and base in result.stderr
    assert "Traceback" not in result.stderr
    bad_json = run(env, "send", "CP1", "Reset", "{nope", "--token", "t", ok=False)
    assert bad_json.returncode != 0 and "not JSON" in bad_json.stderr


def test_serve_banner_shows_the_file_server(env: dict[str, str]) -> None:
    api_port = free_port()
    env = {
        **env,
        "WATTHUB_OCPP_PORT": str(free_port()),
        "WATTHUB_API_PORT": str(api_port),
        "WATTHUB_FTP_ENABLED": "true",
        "WATTHUB_FTP_PORT": str(free_port()),
    }
    process = subprocess.Popen(
        [*SERVE, "--migrate"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:  # the banner ends with the database line
            banner.append(line)
            if "Database" in line:
                break
    finally:
        process.terminate()
        process.wait(10)
    text = "".join(banner)
    assert f"File server   : http://127.0.0.1:{api_port}/files/" in text, text
    assert f"FTP receiver  : ftp://127.0.0.1:{env['WATTHUB_FTP_PORT']}/" in text, text
