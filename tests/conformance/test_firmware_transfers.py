"""Firmware Management beyond the OCTT cases: the FTP receiver, campaigns over several
stations, input validation and the CLI."""

from __future__ import annotations

import asyncio
import ftplib
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import pytest_asyncio
from click.testing import CliRunner

from tests.conformance.test_firmware import FIRMWARE, dsn, fsn, upload_image
from tests.conftest import Csms, running_csms
from tests.support.chargepoint import TestChargePoint
from watthub.cli import main as cli_main


@pytest_asyncio.fixture
async def ftp_csms(backend: str, tmp_path: Path, tmp_path_factory: Any) -> AsyncIterator[Csms]:
    async with running_csms(
        backend, tmp_path, tmp_path_factory, ftp_enabled=True, ftp_port=0, ftp_host="127.0.0.1"
    ) as handle:
        yield handle


def ftp_upload(location: str, name: str, data: bytes, password: str | None = None) -> None:
    url = urlparse(location)
    with ftplib.FTP() as ftp:
        ftp.connect(url.hostname or "", url.port or 21, timeout=10)
        ftp.login(url.username or "", password if password is not None else url.password or "")
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))


async def wait_until(predicate: Any, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(0.1)


async def test_get_diagnostics_over_ftp(ftp_csms: Csms) -> None:
    csms = ftp_csms
    cp = await csms.connect("CP1")
    await cp.booted()
    cp.answers["GetDiagnostics"] = {"fileName": "cp1-diag.tar.gz"}
    response = await csms.api.post("/stations/CP1/get-diagnostics", json={"transport": "ftp"})
    assert response.status_code == 200, response.text
    location = cp.sent("GetDiagnostics")[-1]["location"]
    url = urlparse(location)
    assert url.scheme == "ftp" and url.username and url.password

    await dsn(cp, "Uploading")
    with pytest.raises(ftplib.error_perm):
        await asyncio.to_thread(ftp_upload, location, "x", b"x", "wrong-password")
    data = b"\x1f\x8b diagnostics over ftp" * 500
    await asyncio.to_thread(ftp_upload, location, "cp1-diag.tar.gz", data)
    await dsn(cp, "Uploaded")

    async def files() -> list[dict[str, Any]]:
        state = (await csms.api.get("/stations/CP1/diagnostics")).json()
        return state["files"]  # type: ignore[no-any-return]

    listed = await wait_until(files)
    assert listed[0]["filename"] == "cp1-diag.tar.gz"
    assert listed[0]["transport"] == "ftp"
    assert listed[0]["sha256"] == hashlib.sha256(data).hexdigest()
    got = await csms.api.get(f"/stations/CP1/diagnostics/files/{listed[0]['id']}")
    assert got.content == data
    # Uploads land in data_dir, per station.
    stored = list((Path(csms.hub.settings.data_dir) / "diagnostics" / "CP1").rglob("*.tar.gz"))
    assert [p.read_bytes() for p in stored] == [data]


async def test_ftp_transport_needs_the_receiver(csms: Csms, station: TestChargePoint) -> None:
    response = await csms.api.post("/stations/CP1/get-diagnostics", json={"transport": "ftp"})
    assert response.status_code == 409
    assert "ftp_enabled" in response.json()["detail"]
    assert station.sent("GetDiagnostics") == []


async def test_firmware_api_validation(csms: Csms, station: TestChargePoint) -> None:
    both = await csms.api.post(
        "/stations/CP1/update-firmware", json={"firmwareId": 1, "location": "http://x/y"}
    )
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    unknown = await csms.api.post("/stations/CP1/update-firmware", json={"firmwareId": 999})
    assert unknown.status_code == 404 and "999" in unknown.json()["detail"]
    neither = await csms.command("CP1", "UpdateFirmware", {})
    assert neither.status_code == 422 and "location" in neither.json()["detail"]
    # The generic endpoint takes firmwareId too (same hook).
    image = await upload_image(csms, "3.1")
    generic = await csms.command("CP1", "UpdateFirmware", {"firmwareId": image["id"]})
    assert generic.status_code == 200, generic.text
    assert station.sent("UpdateFirmware")[-1]["location"] == image["url"]
    empty = await csms.api.post("/firmware", files={"file": ("a.bin", b"")})
    assert empty.status_code == 422
    listed = (await csms.api.get("/firmware")).json()
    assert [i["id"] for i in listed] == [image["id"]]
    # Unknown token or wrong file name: 404, no listing of the store.
    async with httpx.AsyncClient() as anonymous:
        bad = await anonymous.get(image["url"].rsplit("/", 1)[0] + "/other.bin")
        assert bad.status_code == 404
    deleted = await csms.api.delete(f"/firmware/{image['id']}")
    assert deleted.status_code == 204
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(image["url"])).status_code == 404


def _station_flow(cp: TestChargePoint, outcome: str, log: list[str]) -> Any:
    """A simulated station: on UpdateFirmware it downloads the image and reports its progress."""

    async def run(location: str) -> None:
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient() as http:
            got = await http.get(location)
        await fsn(cp, "Downloading")
        if got.content != FIRMWARE:
            await fsn(cp, "DownloadFailed")
            return
        await fsn(cp, "Downloaded")
        await fsn(cp, "Installing")
        if outcome == "fail":
            await fsn(cp, "InstallationFailed")
            log.append(f"done {cp.id}")
        else:
            await cp.boot(firmware_version="2.0")
            await fsn(cp, "Installed")
        log.append(f"done {cp.id}")

    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        log.append(f"sent {cp.id}")
        asyncio.get_running_loop().create_task(run(payload["location"]))
        return {}

    return answer


async def test_firmware_campaign_three_stations_one_failing(csms: Csms) -> None:
    image = await upload_image(csms, "2.0")
    log: list[str] = []
    stations = {}
    for sid, outcome in (("CP-A", "ok"), ("CP-B", "fail"), ("CP-C", "ok")):
        cp = await csms.connect(sid)
        await cp.boot(firmware_version="1.0")
        cp.answers["UpdateFirmware"] = _station_flow(cp, outcome, log)
        stations[sid] = cp

    response = await csms.api.post(
        "/firmware-campaigns",
        json={
            "name": "2.0 rollout",
            "firmwareId": image["id"],
            "stations": ["CP-A", "CP-B", "CP-C"],
            "concurrency": 2,
        },
    )
    assert response.status_code == 201, response.text
    campaign = response.json()
    assert campaign["expectedVersion"] == "2.0"
    assert [s["stationId"] for s in campaign["stations"]] == ["CP-A", "CP-B", "CP-C"]

    async def finished() -> dict[str, Any] | None:
        view = (await csms.api.get(f"/firmware-campaigns/{campaign['id']}")).json()
        return view if view["status"] == "finished" else None

    view = await wait_until(finished, timeout=20)
    states = {s["stationId"]: s for s in view["stations"]}
    assert states["CP-A"]["state"] == "installed"
    assert states["CP-C"]["state"] == "installed"
    assert states["CP-B"]["state"] == "failed"
    assert "InstallationFailed" in states["CP-B"]["detail"]
    assert view["counts"] == {"installed": 2, "failed": 1}
    # Concurrency 2: the third station was sent the update only after another one finished.
    assert sorted(log[:2]) == ["sent CP-A", "sent CP-B"]
    assert log.index("sent CP-C") > min(log.index("done CP-A"), log.index("done CP-B"))
    for cp in stations.values():
        sent = cp.sent("UpdateFirmware")
        assert len(sent) == 1 and sent[0]["location"] == image["url"]
    a_state = (await csms.api.get("/stations/CP-A/firmware")).json()
    assert a_state["firmwareVersion"] == "2.0"
    assert a_state["updates"][0]["campaignId"] == campaign["id"]
    assert a_state["updates"][0]["versionAfter"] == "2.0"


async def test_campaign_cancel_and_unreachable_station(csms: Csms) -> None:
    await csms.add_station("OFFLINE")
    response = await csms.api.post(
        "/firmware-campaigns",
        json={"location": "http://fw.example.com/x.bin", "stations": ["OFFLINE"], "concurrency": 1},
    )
    assert response.status_code == 201, response.text
    cid = response.json()["id"]

    async def done() -> dict[str, Any] | None:
        view = (await csms.api.get(f"/firmware-campaigns/{cid}")).json()
        return view if view["status"] == "finished" else None

    view = await wait_until(done)
    assert view["stations"][0]["state"] == "failed"
    assert "not connected" in view["stations"][0]["detail"]
    again = await csms.api.post(f"/firmware-campaigns/{cid}/cancel")
    assert again.status_code == 409
    unknown = await csms.api.post(
        "/firmware-campaigns", json={"location": "http://x/y", "stations": ["NOPE"]}
    )
    assert unknown.status_code == 404 and "NOPE" in unknown.json()["detail"]


async def test_cli_upload_list_and_status(
    csms: Csms, station: TestChargePoint, tmp_path: Path
) -> None:
    image_file = tmp_path / "fw-9.bin"
    image_file.write_bytes(FIRMWARE)
    runner = CliRunner()
    args = ["--api-url", csms.api_base, "--token", csms.token]

    def invoke(*extra: str) -> Any:
        return runner.invoke(cli_main, ["firmware", *args, *extra], catch_exceptions=False)

    upload = await asyncio.to_thread(invoke, "upload", str(image_file), "--version", "9.0")
    assert upload.exit_code == 0, upload.output
    assert hashlib.sha256(FIRMWARE).hexdigest() in upload.output
    listed = await asyncio.to_thread(invoke, "list")
    assert "fw-9.bin" in listed.output and "9.0" in listed.output
    image_id = (await csms.api.get("/firmware")).json()[0]["id"]
    update = await asyncio.to_thread(invoke, "update", "CP1", "--firmware-id", str(image_id))
    assert update.exit_code == 0, update.output
    assert station.sent("UpdateFirmware")[-1]["location"].endswith("/fw-9.bin")


# The banner of one process: a cluster (two nodes, two banners) adds nothing here.
@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_describe_shows_file_server_and_ftp(ftp_csms: Csms) -> None:
    """hub.describe() (the `watthub serve` banner) lists the file server and the FTP receiver
    with the addresses stations are given."""
    info = ftp_csms.hub.describe()
    assert info["files_url"] == f"http://127.0.0.1:{ftp_csms.hub.api_port}/files/"
    ftp_port = ftp_csms.hub.services.features["firmware"].ftp.port
    assert info["ftp_url"] == f"ftp://127.0.0.1:{ftp_port}/"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_describe_without_ftp(csms: Csms) -> None:
    plain = csms.hub.describe()
    assert plain["files_url"] == f"http://127.0.0.1:{csms.hub.api_port}/files/"
    assert plain["ftp_url"] is None
    assert plain["api_url"] and plain["ocpp_url"]
