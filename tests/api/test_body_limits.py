"""#11 §3 "Bodies before authentication": requests are authenticated from their headers before
any body is read, and bodies are capped per route (413), both for a declared Content-Length
and for chunked bodies that only turn out too large while streaming."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Csms

MiB = 1024 * 1024
_CHUNK = b"x" * MiB


async def stream(total: int) -> AsyncIterator[bytes]:
    """A body of ``total`` bytes that the test never holds in memory (one 1 MiB chunk reused)."""
    sent = 0
    while sent < total:
        piece = _CHUNK[: min(MiB, total - sent)]
        sent += len(piece)
        yield piece


def rss_kib() -> dict[str, int]:
    """VmRSS / VmHWM of this process (the in-process server) in KiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# SQLite only: nothing here depends on the database.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


async def test_unauthenticated_large_body_is_refused_unread(csms: Csms) -> None:
    if not reset_peak():
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs)")
    before = rss_kib()
    async with httpx.AsyncClient(base_url=csms.api_base, timeout=60) as anonymous:
        # 64 MiB with a declared length (what curl sends) and 64 MiB chunked.
        for headers in ({"Content-Length": str(64 * MiB)}, {}):
            response = await anonymous.post(
                "/stations",
                content=stream(64 * MiB),
                headers={"Content-Type": "application/json", **headers},
            )
            assert response.status_code == 401, response.text
            assert "Not authenticated" in response.json()["detail"]
    grown = rss_kib()["VmHWM"] - before["VmRSS"]
    # Reading the body would have cost >= 64 MiB; the guard answers from the headers.
    assert grown < 24 * 1024, f"peak RSS grew by {grown} KiB"


async def test_unauthenticated_firmware_upload_is_not_spooled(
    csms: Csms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    boundary = "watthubboundary"

    async def multipart(size: int) -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="fw.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        async for piece in stream(size):
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with httpx.AsyncClient(base_url=csms.api_base, timeout=60) as anonymous:
        response = await anonymous.post("/firmware", content=multipart(32 * MiB), headers=headers)
    assert response.status_code == 401
    assert list(spool.iterdir()) == []  # FastAPI spools uploads > 1 MiB here: nothing came
    # A viewer may not upload either, and is refused before the body too.
    made = await csms.api.post("/tokens", json={"name": "wall", "role": "viewer"})
    viewer = {"Authorization": f"Bearer {made.json()['token']}"}
    async with httpx.AsyncClient(base_url=csms.api_base, timeout=60) as client:
        response = await client.post(
            "/firmware", content=multipart(32 * MiB), headers=headers | viewer
        )
    assert response.status_code == 403
    assert "needs operator" in response.json()["detail"]
    assert list(spool.iterdir()) == []
    assert (await csms.api.get("/firmware")).json() == []


async def test_oversized_bodies_get_413(csms: Csms) -> None:
    limit = csms.hub.settings.api_max_body_bytes
    declared = await csms.api.post(
        "/stations",
        content=stream(limit + 1),
        headers={"Content-Type": "application/json", "Content-Length": str(limit + 1)},
    )
    chunked = await csms.api.post(
        "/stations", content=stream(4 * limit), headers={"Content-Type": "application/json"}
    )
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        detail = response.json()["detail"]
        assert f"at most {limit} bytes" in detail and "api_max_body_bytes" in detail
    # Public routes are capped too (the login form takes a small JSON body).
    async with httpx.AsyncClient(base_url=csms.api_base) as anonymous:
        login = await anonymous.post(
            "/auth/login",
            content=stream(2 * limit),
            headers={"Content-Type": "application/json"},
        )
    assert login.status_code == 413
    # The connection and the server are fine afterwards.
    assert (await csms.api.post("/stations", json={"id": "CP1"})).status_code == 201


async def test_upload_routes_take_larger_bodies_up_to_their_own_cap(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    from tests.conftest import start_csms

    hub, csms = await start_csms(
        backend, tmp_path, tmp_path_factory, api_max_body_bytes=64 * 1024, max_upload_bytes=3 * MiB
    )
    try:
        files = {"file": ("fw.bin", b"\x01" * (2 * MiB), "application/octet-stream")}
        ok = await csms.api.post("/firmware", files=files, data={"version": "1.2.3"})
        assert ok.status_code == 201, ok.text
        files = {"file": ("big.bin", b"\x01" * (4 * MiB), "application/octet-stream")}
        too_big = await csms.api.post("/firmware", files=files, data={"version": "1.2.4"})
        assert too_big.status_code == 413
        assert "max_upload_bytes" in too_big.json()["detail"]
        assert [i["version"] for i in (await csms.api.get("/firmware")).json()] == ["1.2.3"]
        # Not an upload route: the small cap.
        body = await csms.api.put("/id-tags/T1", json={"note": "n" * (128 * 1024)})
        assert body.status_code == 413
    finally:
        await csms.api.aclose()
        await hub.stop()
