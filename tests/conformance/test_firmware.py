"""Firmware Management profile: the OCTT cases TC_044_1/2/3 and TC_045_1/2 (reference §3.15/3.16),
with real file transfers against WattHub's own file server."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from ocpp.v16 import call, call_result

from tests.conformance.core_helpers import assert_sent_only
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from tests.support.poll import eventually
from watthub.timeutil import parse_ts

FIRMWARE = b"\x7fWATTHUB-FW" + bytes(range(256)) * 64


async def upload_image(csms: Csms, version: str = "2.0", data: bytes = FIRMWARE) -> dict[str, Any]:
    response = await csms.api.post(
        "/firmware",
        files={"file": (f"fw-{version}.bin", data, "application/octet-stream")},
        data={"version": version, "description": "test image"},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def fsn(cp: TestChargePoint, status: str) -> None:
    answer = await cp.call(call.FirmwareStatusNotification(status=status))
    assert isinstance(answer, call_result.FirmwareStatusNotification)


async def dsn(cp: TestChargePoint, status: str) -> None:
    answer = await cp.call(call.DiagnosticsStatusNotification(status=status))
    assert isinstance(answer, call_result.DiagnosticsStatusNotification)


async def firmware_state(csms: Csms, station_id: str = "CP1") -> dict[str, Any]:
    response = await csms.api.get(f"/stations/{station_id}/firmware")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def diagnostics_state(csms: Csms, station_id: str = "CP1") -> dict[str, Any]:
    response = await csms.api.get(f"/stations/{station_id}/diagnostics")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def install_sequence(cp: TestChargePoint, final: str, version: str) -> None:
    """TC_044_1 steps 2-8 as the OCTT plays them."""
    await fsn(cp, "Downloading")
    await fsn(cp, "Downloaded")
    for connector in (0, 1):
        await cp.status(connector, "Unavailable")
    await fsn(cp, "Installing")
    boot = await cp.boot(firmware_version=version)
    assert boot.status == "Accepted"
    await cp.status(1, "Available")
    await fsn(cp, final)


async def test_tc_044_1_firmware_download_and_install(csms: Csms) -> None:
    cp = await csms.connect("CP1")
    await cp.boot(firmware_version="1.0")
    image = await upload_image(csms, "2.0")
    assert image["sha256"] == hashlib.sha256(FIRMWARE).hexdigest()
    assert image["size"] == len(FIRMWARE)

    response = await csms.api.post(
        "/stations/CP1/update-firmware", json={"firmwareId": image["id"]}
    )
    assert response.status_code == 200, response.text
    sent = cp.sent("UpdateFirmware")[-1]
    # Required fields: location (the configured firmware URL: WattHub's own) and retrieveDate.
    assert sent["location"] == image["url"]
    assert "/files/firmware/" in sent["location"]
    parse_ts(sent["retrieveDate"])

    # The station downloads the image: no bearer token, the URL alone is enough.
    async with httpx.AsyncClient() as station_http:
        download = await station_http.get(sent["location"])
    assert download.status_code == 200
    assert download.content == FIRMWARE
    assert download.headers["x-checksum-sha256"] == image["sha256"]

    await install_sequence(cp, "Installed", "2.0")

    # The version after the boot is recorded by a listener of the boot, after its answer.
    state = await eventually(
        lambda: firmware_state(csms), lambda s: s["updates"][0]["versionAfter"] is not None
    )
    assert state["firmwareVersion"] == "2.0"
    assert state["current"]["status"] == "Installed"
    assert [e["status"] for e in reversed(state["timeline"])] == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]
    update = state["updates"][0]
    assert update["firmwareImageId"] == image["id"]
    assert update["versionBefore"] == "1.0"
    assert update["versionAfter"] == "2.0"
    assert update["lastStatus"] == "Installed"
    await assert_sent_only(cp, "UpdateFirmware")  # nothing after the mid-flow boot


async def test_tc_044_2_firmware_download_failed(csms: Csms, station: TestChargePoint) -> None:
    # The OCTT's configured URL, sent as is through the generic endpoint.
    location = "https://firmware.example.com/octt/fw.bin"
    response = await csms.command(
        "CP1", "UpdateFirmware", {"location": location, "retrieveDate": "2026-11-25T10:00:00Z"}
    )
    assert response.status_code == 200, response.text
    sent = station.sent("UpdateFirmware")[-1]
    assert sent == {"location": location, "retrieveDate": "2026-11-25T10:00:00.000Z"}

    await fsn(station, "Downloading")
    await fsn(station, "DownloadFailed")

    state = await firmware_state(csms)
    assert state["current"]["status"] == "DownloadFailed"
    assert state["updates"][0]["location"] == location
    assert state["updates"][0]["lastStatus"] == "DownloadFailed"
    assert state["updates"][0]["firmwareImageId"] is None
    await assert_sent_only(station, "UpdateFirmware")


async def test_tc_044_3_firmware_installation_failed(csms: Csms) -> None:
    cp = await csms.connect("CP1")
    await cp.boot(firmware_version="1.0")
    image = await upload_image(csms, "2.0")
    response = await csms.api.post(
        "/stations/CP1/update-firmware",
        json={"firmwareId": image["id"], "retries": 2, "retryInterval": 30},
    )
    assert response.status_code == 200, response.text
    sent = cp.sent("UpdateFirmware")[-1]
    assert sent["location"] == image["url"] and "retrieveDate" in sent
    assert sent["retries"] == 2 and sent["retryInterval"] == 30

    await install_sequence(cp, "InstallationFailed", "1.0")

    state = await eventually(
        lambda: firmware_state(csms), lambda s: s["updates"][0]["versionAfter"] is not None
    )
    assert state["current"]["status"] == "InstallationFailed"
    assert state["firmwareVersion"] == "1.0"
    assert state["updates"][0]["versionAfter"] == "1.0"
    assert state["updates"][0]["lastStatus"] == "InstallationFailed"
    await assert_sent_only(cp, "UpdateFirmware")


async def test_tc_045_1_get_diagnostics(csms: Csms, station: TestChargePoint) -> None:
    station.answers["GetDiagnostics"] = {"fileName": "diag-CP1.zip"}
    response = await csms.api.post(
        "/stations/CP1/get-diagnostics",
        json={"startTime": "2026-11-24T00:00:00Z", "stopTime": "2026-11-25T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"fileName": "diag-CP1.zip"}
    sent = station.sent("GetDiagnostics")[-1]
    location = sent["location"]
    assert "/files/upload/" in location
    assert sent["startTime"] == "2026-11-24T00:00:00.000Z"

    await dsn(station, "Uploading")
    # The station uploads to the location it was sent (HTTP PUT of the raw file).
    body = b"PK\x03\x04 diagnostics of CP1 " * 100
    async with httpx.AsyncClient() as station_http:
        put = await station_http.put(location + "diag-CP1.zip", content=body)
        assert put.status_code == 201, put.text
        # A second station style: multipart POST to the location itself.
        post = await station_http.post(location, files={"file": ("more.log", b"log line\n")})
        assert post.status_code == 201, post.text
        # A made-up location is refused.
        bad = await station_http.put(location.replace("/upload/", "/upload/x"), content=b"x")
        assert bad.status_code == 404
    await dsn(station, "Uploaded")
    await dsn(station, "Idle")

    state = await diagnostics_state(csms)
    assert state["current"]["status"] == "Idle"
    assert [e["status"] for e in reversed(state["timeline"])] == ["Uploading", "Uploaded", "Idle"]
    request = state["requests"][0]
    assert request["location"] == location
    assert request["fileName"] == "diag-CP1.zip"
    assert request["lastStatus"] == "Uploaded"
    files = {f["filename"]: f for f in state["files"]}
    assert set(files) == {"diag-CP1.zip", "more.log"}
    assert files["diag-CP1.zip"]["sha256"] == hashlib.sha256(body).hexdigest()

    got = await csms.api.get(files["diag-CP1.zip"]["downloadPath"].removeprefix("/api/v1"))
    assert got.status_code == 200
    assert got.content == body
    async with httpx.AsyncClient() as anonymous:
        denied = await anonymous.get(csms.api_base + files["diag-CP1.zip"]["downloadPath"][7:])
    assert denied.status_code == 401
    await assert_sent_only(station, "GetDiagnostics")


async def test_tc_045_2_get_diagnostics_upload_failed(csms: Csms, station: TestChargePoint) -> None:
    location = "ftp://octt:secret@diagnostics.example.com/uploads/"
    response = await csms.command("CP1", "GetDiagnostics", {"location": location})
    assert response.status_code == 200, response.text
    assert station.sent("GetDiagnostics")[-1] == {"location": location}

    await dsn(station, "Uploading")
    await dsn(station, "UploadFailed")

    state = await diagnostics_state(csms)
    assert state["current"]["status"] == "UploadFailed"
    assert state["requests"][0]["transport"] == "external"
    assert state["requests"][0]["lastStatus"] == "UploadFailed"
    assert state["files"] == []
    await assert_sent_only(station, "GetDiagnostics")
