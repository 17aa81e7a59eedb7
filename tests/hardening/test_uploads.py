"""Diagnostics uploads under concurrency and abuse (issue #11 §3 "Uploads"): concurrent uploads to
one location all succeed with the right SHA-256, a name already used never replaces the file an
earlier row points to (HTTP and FTP), and each location has a limit on files and bytes."""

from __future__ import annotations

import asyncio
import ftplib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.conformance.test_firmware_transfers import ftp_upload
from tests.conftest import Csms, running_csms
from tests.support.chargepoint import TestChargePoint


@pytest_asyncio.fixture
async def upload_csms(backend: str, tmp_path: Path, tmp_path_factory: Any) -> AsyncIterator[Csms]:
    async with running_csms(
        backend,
        tmp_path,
        tmp_path_factory,
        ftp_enabled=True,
        ftp_port=0,
        ftp_host="127.0.0.1",
        upload_location_max_files=25,
        upload_location_max_bytes=64 * 1024,
    ) as handle:
        yield handle


async def _location(csms: Csms, transport: str = "http") -> tuple[TestChargePoint, str]:
    cp = await csms.connect("CP1")
    await cp.booted()
    cp.answers["GetDiagnostics"] = {"fileName": "diag.log"}
    response = await csms.api.post("/stations/CP1/get-diagnostics", json={"transport": transport})
    assert response.status_code == 200, response.text
    return cp, cp.sent("GetDiagnostics")[-1]["location"]


async def _found(csms: Csms, pattern: str) -> list[Path]:
    """Files matching ``pattern`` anywhere in the data directory (temporary ones included)."""
    return await asyncio.to_thread(lambda: list(Path(csms.hub.settings.data_dir).rglob(pattern)))


async def _files(csms: Csms) -> list[dict[str, Any]]:
    state = (await csms.api.get("/stations/CP1/diagnostics")).json()
    return state["files"]  # type: ignore[no-any-return]


async def test_twenty_concurrent_uploads_to_one_location(upload_csms: Csms) -> None:
    csms = upload_csms
    _cp, location = await _location(csms)
    bodies = [f"upload {i} ".encode() * (50 + i) for i in range(20)]
    async with httpx.AsyncClient(timeout=30) as station_http:
        answers = await asyncio.gather(
            *(station_http.put(location + "diag.log", content=body) for body in bodies)
        )
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    files = await _files(csms)
    assert len(files) == 20  # one row per stored file
    assert len({f["filename"] for f in files}) == 20
    digests = {hashlib.sha256(b).hexdigest() for b in bodies}
    assert {f["sha256"] for f in files} == digests
    for f in files:  # each row's file holds exactly what its checksum says
        got = await csms.api.get(f"/stations/CP1/diagnostics/files/{f['id']}")
        assert hashlib.sha256(got.content).hexdigest() == f["sha256"]
    assert await _found(csms, "*.part") == []


async def test_upload_location_limits_files_and_bytes(upload_csms: Csms) -> None:
    csms = upload_csms
    _cp, location = await _location(csms)
    async with httpx.AsyncClient(timeout=30) as station_http:
        too_big = await station_http.put(location + "big.log", content=b"x" * (65 * 1024))
        assert too_big.status_code == 413, too_big.text
        assert "at most" in too_big.json()["detail"]
        for i in range(25):
            ok = await station_http.put(location + f"f{i}.log", content=b"small")
            assert ok.status_code == 201, ok.text
        full = await station_http.put(location + "one-more.log", content=b"small")
    assert full.status_code == 409, full.text
    assert "25 files" in full.json()["detail"]
    assert len(await _files(csms)) == 25
    assert await _found(csms, "big*") == []


async def test_ftp_upload_with_an_existing_name_keeps_the_earlier_file(upload_csms: Csms) -> None:
    csms = upload_csms
    _cp, location = await _location(csms, "ftp")
    first, second = b"first diagnostics" * 10, b"second diagnostics" * 10
    await asyncio.to_thread(ftp_upload, location, "diag.log", first)

    async def two_files() -> list[dict[str, Any]]:
        for _ in range(100):
            files = await _files(csms)
            if len(files) >= 2:
                return files
            await asyncio.sleep(0.05)
        return await _files(csms)

    await asyncio.to_thread(ftp_upload, location, "diag.log", second)
    files = await two_files()
    assert len(files) == 2
    for f in files:
        got = await csms.api.get(f"/stations/CP1/diagnostics/files/{f['id']}")
        assert hashlib.sha256(got.content).hexdigest() == f["sha256"]
    assert {f["sha256"] for f in files} == {
        hashlib.sha256(first).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    }
    # Appending to a stored file is refused too.
    with pytest.raises(ftplib.error_perm):
        await asyncio.to_thread(_ftp_append, location, "diag.log", b"tampered")


def _ftp_append(location: str, name: str, data: bytes) -> None:
    import io
    from urllib.parse import urlparse

    url = urlparse(location)
    with ftplib.FTP() as ftp:
        ftp.connect(url.hostname or "", url.port or 21, timeout=10)
        ftp.login(url.username or "", url.password or "")
        ftp.storbinary(f"APPE {name}", io.BytesIO(data))


async def test_ftp_upload_beyond_the_byte_limit_is_stopped_and_removed(upload_csms: Csms) -> None:
    csms = upload_csms
    _cp, location = await _location(csms, "ftp")
    with pytest.raises(ftplib.Error) as refused:
        await asyncio.to_thread(ftp_upload, location, "huge.log", b"y" * (256 * 1024))
    assert "552" in str(refused.value) or "426" in str(refused.value)
    assert await _found(csms, "huge*") == []
    # Room is left for a file that fits.
    await asyncio.to_thread(ftp_upload, location, "small.log", b"fits")
    for _ in range(100):
        if await _files(csms):
            break
        await asyncio.sleep(0.05)
    assert [f["filename"] for f in await _files(csms)] == ["small.log"]
