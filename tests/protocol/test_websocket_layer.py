"""The WebSocket layer of the OCPP endpoint (server/ws_link.py): fragments, pings, timeouts,
malformed handshakes and shutdown, against the real server. The database does not matter here,
so these run on SQLite only."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Csms, start_csms
from tests.protocol.raw import RawStation

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
async def small(backend: str, tmp_path: Path, tmp_path_factory: Any) -> AsyncIterator[Csms]:
    """A CSMS with short timeouts and a small message limit."""
    hub, csms = await start_csms(
        backend,
        tmp_path,
        tmp_path_factory,
        ping_interval=0.5,
        ping_timeout=0.5,
        ws_open_timeout=0.5,
        max_frame_size=4096,
    )
    try:
        await csms.add_station("CP1")
        yield csms
    finally:
        await csms.api.aclose()
        await hub.stop()


async def _tcp(csms: Csms) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(csms.url("CP1"))
    return await asyncio.open_connection(parts.hostname, parts.port)


def _upgrade(csms: Csms, station_id: str = "CP1") -> bytes:
    parts = urlsplit(csms.url(station_id))
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    ).encode()


async def _upgraded(
    csms: Csms, station_id: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A new station on a raw socket, past the WebSocket upgrade."""
    await csms.add_station(station_id)
    reader, writer = await _tcp(csms)
    writer.write(_upgrade(csms, station_id))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    """Read until the server closes the connection; how long that took."""
    started = time.monotonic()
    async with asyncio.timeout(seconds):
        while await reader.read(65536):
            pass
    return time.monotonic() - started


async def test_a_fragmented_call_is_answered(small: Csms) -> None:
    raw = await RawStation.open(small.url("CP1"))
    frame = '[2,"frag-1","Heartbeat",{}]'
    await raw.ws.send([frame[:5], frame[5:12], frame[12:]])
    answer = await raw.recv()
    assert answer[0] == 3 and answer[1] == "frag-1" and "currentTime" in answer[2]
    await raw.close()


async def test_fragments_above_the_message_limit_close_with_1009(small: Csms) -> None:
    raw = await RawStation.open(small.url("CP1"))
    piece = "a" * 3000  # each fragment is under the 4 KiB limit, the message is not
    with pytest.raises(Exception):  # noqa: B017 - the connection is closed under us
        await raw.ws.send(['[2,"big","DataTransfer",{"vendorId":"v","data":"', piece, piece])
        await raw.recv()
    await asyncio.wait_for(raw.ws.wait_closed(), 5)
    assert raw.ws.close_code == 1009
    other = await RawStation.open(small.url("CP1"))
    await other.alive()
    await other.close()


async def test_a_station_ping_gets_its_pong(small: Csms) -> None:
    raw = await RawStation.open(small.url("CP1"))
    pong = await raw.ws.ping(b"are you there")
    latency = await asyncio.wait_for(pong, 5)
    assert latency >= 0
    await raw.close()


async def test_our_pings_keep_an_answering_station_and_drop_a_silent_one(small: Csms) -> None:
    answering = await RawStation.open(small.url("CP1"))
    reader, writer = await _upgraded(small, "CP2")
    # The raw socket never answers a ping: closed after ping_interval + ping_timeout.
    took = await _closed_within(reader, 10)
    assert 0.5 <= took < 5
    writer.close()
    # The websockets client answers every ping: still connected well past the same time.
    await answering.alive()
    assert answering.ws.close_code is None
    await answering.close()


async def test_a_handshake_that_never_finishes_is_cut_at_the_open_timeout(small: Csms) -> None:
    reader, writer = await _tcp(small)
    writer.write(_upgrade(small)[:40])  # half a request line, then nothing
    took = await _closed_within(reader, 10)
    assert took < 5
    writer.close()


async def test_malformed_http_gets_400_and_an_oversized_head_431(small: Csms) -> None:
    reader, writer = await _tcp(small)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Invalid HTTP request" in answer
    writer.close()

    reader, writer = await _tcp(small)
    writer.write(b"GET /ocpp/CP1 HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 431 ")
    writer.close()


async def test_a_plain_http_request_to_a_station_path_is_refused(small: Csms) -> None:
    """Admitted as a station (subprotocol offered) but not a WebSocket upgrade: the
    `websockets` handshake checks refuse it, as before."""
    parts = urlsplit(small.url("CP1"))
    reader, writer = await _tcp(small)
    writer.write(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n".encode()
    )
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.split(b" ", 2)[1] in (b"400", b"426")
    assert b"Server: WattHub" in answer
    writer.close()


async def test_stopping_the_server_closes_stations_with_1001(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    hub, csms = await start_csms(backend, tmp_path, tmp_path_factory)
    try:
        await csms.add_station("CP1")
        raw = await RawStation.open(csms.url("CP1"))
        await raw.alive()
    finally:
        await csms.api.aclose()
        await hub.stop()
    await asyncio.wait_for(raw.ws.wait_closed(), 5)
    assert raw.ws.close_code == 1001


async def test_a_protocol_error_closes_with_1002_and_others_carry_on(small: Csms) -> None:
    """An unmasked frame from a station breaks RFC 6455 §5.1: closed with 1002."""
    other = await RawStation.open(small.url("CP1"))
    reader, writer = await _upgraded(small, "CP2")
    writer.write(b"\x81\x02hi")  # FIN + text, length 2, no mask bit
    close = await asyncio.wait_for(reader.read(4), 5)
    assert close[0] == 0x88, close  # a close frame
    assert int.from_bytes(close[2:4], "big") == 1002
    await _closed_within(reader, 5)
    writer.close()
    await other.alive()
    await other.close()
