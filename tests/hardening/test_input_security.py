"""Security items of issue #11 §3 as API tests: station identities, case-insensitive
configuration keys (guards and redaction), and log forging."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import Csms, start_csms
from tests.protocol.raw import RawStation
from tests.support.poll import eventually
from tests.support.processes import free_port, wait_healthy_async

BAD_IDS = [".", "..", "a\nb", "a\x00b", "CP1 ", " CP1", "a\x1b[31mb", "a\u2028b", "a/b", ""]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_api_refuses_unusable_station_ids(csms: Csms, bad: str) -> None:
    response = await csms.api.post("/stations", json={"id": bad})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]  # a readable reason, not a 500
    assert (await csms.api.get("/stations")).json() == []


async def test_api_accepts_ordinary_ids_with_dots_and_spaces_inside(csms: Csms) -> None:
    for good in ("CP.1", "...x", "Hall 3 CP 1", "Ladesäule-7"):
        response = await csms.api.post("/stations", json={"id": good})
        assert response.status_code == 201, response.text


async def _refused(url: str) -> int:
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5):
            pass
    return int(caught.value.response.status_code)


async def test_handshake_refuses_unusable_identities_even_with_auto_registration(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    hub, csms = await start_csms(backend, tmp_path, tmp_path_factory, auto_register=True)
    try:
        for path in ("CP1%20", "%20CP1", "%2E", "%2E%2E", "a%0Ab", "a%00b", "a%1B%5B31mb"):
            assert await _refused(f"{csms.ocpp_base}/{path}") == 400, path
        assert (await csms.api.get("/stations")).json() == []
        # An ordinary identity still auto-registers.
        station = await RawStation.open(f"{csms.ocpp_base}/CP-OK")
        await station.alive()
        await station.close()
        ids = [s["id"] for s in (await csms.api.get("/stations")).json()]
        assert ids == ["CP-OK"]
    finally:
        await csms.close_stations()
        await csms.api.aclose()
        await hub.stop()


# -- configuration keys are case-insensitive (CiString50) ----------------------------------


@pytest.mark.parametrize("key", ["securityprofile", " SecurityProfile ", "SECURITYPROFILE"])
async def test_security_profile_guard_ignores_key_case(csms: Csms, key: str) -> None:
    cp = await csms.connect("CPSEC")
    await cp.booted()
    # Profile 0, no password: raising to 1 needs a password first, whatever the key's case.
    response = await csms.command("CPSEC", "ChangeConfiguration", {"key": key, "value": "1"})
    assert response.status_code == 409, response.text
    assert cp.sent("ChangeConfiguration") == []


async def test_authorization_key_checks_and_redaction_ignore_key_case(csms: Csms) -> None:
    cp = await csms.connect("CPKEY")
    await cp.booted()
    bad = await csms.command(
        "CPKEY", "ChangeConfiguration", {"key": "authorizationkey", "value": "short"}
    )
    assert bad.status_code == 422, bad.text
    assert cp.sent("ChangeConfiguration") == []

    secret = "0123456789abcdef0123456789abcdef"  # 16 bytes, hex
    response = await csms.command(
        "CPKEY", "ChangeConfiguration", {"key": "AUTHORIZATIONKEY ", "value": secret}
    )
    assert response.status_code == 200, response.text
    # Sent under its canonical name; the password switch happened.
    assert cp.sent("ChangeConfiguration") == [{"key": "AuthorizationKey", "value": secret}]
    station = (await csms.api.get("/stations/CPKEY")).json()
    assert station["hasPassword"] is True
    # Never in clear: not in the message log, not in the stored configuration.
    messages = await eventually(
        lambda: csms.api.get("/stations/CPKEY/messages", params={"action": "ChangeConfiguration"}),
        lambda r: len(r.json()) >= 2,
    )
    assert secret not in messages.text and "***redacted***" in messages.text
    configuration = await csms.api.get("/stations/CPKEY/configuration")
    assert secret not in configuration.text
    # A station that reports the key back, in any case, has it redacted in the log too.
    cp.answers["GetConfiguration"] = {
        "configurationKey": [{"key": "authorizationKEY", "readonly": False, "value": secret}]
    }
    assert (await csms.command("CPKEY", "GetConfiguration", {})).status_code == 200
    messages = await eventually(
        lambda: csms.api.get("/stations/CPKEY/messages", params={"action": "GetConfiguration"}),
        lambda r: len(r.json()) >= 2,
    )
    assert secret not in messages.text
    assert secret not in (await csms.api.get("/stations/CPKEY/configuration")).text


# -- log forging ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


async def test_station_supplied_text_cannot_forge_log_lines(tmp_path: Path) -> None:
    """The real ``watthub serve`` log (its own handlers and formatter)."""
    ocpp_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "WATTHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}",
        "WATTHUB_DATA_DIR": str(tmp_path / "data"),
        "WATTHUB_OCPP_PORT": str(ocpp_port),
        "WATTHUB_API_PORT": str(api_port),
        "WATTHUB_AUTO_REGISTER": "true",
    }
    env.pop("WATTHUB_CONFIG", None)
    log_file = tmp_path / "serve.log"
    with log_file.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "watthub",
            "serve",
            "--migrate",
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            await wait_healthy_async(
                api_port, lambda: process.returncode is None, 30, log_file.read_text
            )
            base = f"ws://127.0.0.1:{ocpp_port}/ocpp"
            forged = "X%0A2026-01-01%2000:00:00,000%20ERROR%20watthub:%20FORGED-BY-PATH"
            assert await _refused(f"{base}/{forged}") == 400
            station = await RawStation.open(f"{base}/CPLOG")
            answer = await station.call(
                "evil-1", "Evil\n2026-01-01 00:00:00,000 ERROR FORGED-BY-ACTION\x1b[2J", {}
            )
            assert answer[2] == "NotImplemented"
            await station.close()
            await asyncio.sleep(0.5)
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)
    text = log_file.read_text()
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01")], text
    assert "\x1b" not in text
    # Logged, but escaped on one line.
    assert "X\\n2026-01-01 00:00:00,000 ERROR watthub: FORGED-BY-PATH" in text
    assert "Evil\\n2026-01-01 00:00:00,000 ERROR FORGED-BY-ACTION\\x1b[2J" in text
