"""Baseline (b) "raw-ws": the ceiling of the Python WebSocket stack.

A bare ``websockets`` server that answers every CALL with a fixed-shape CALLRESULT: no schema
validation, no storage, no logic beyond picking the canned payload by action name (and a counter for
transaction ids). Whatever a real CSMS adds on top of this is the cost of its OCPP pipeline.

Run: ``python -m watthub.bench.baseline_raw_ws --port 9000`` (stations at ``ws://127.0.0.1:9000/ID``).
"""

from __future__ import annotations

import asyncio
import itertools
import time

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ._serverutil import health_check, parse_args, run
from .frames import id_tag_for

_TX = itertools.count(1)
_EMPTY = b"{}"
_ACCEPTED_TAG = b'{"idTagInfo":{"status":"Accepted"}}'
_INVALID_TAG = b'{"idTagInfo":{"status":"Invalid"}}'
#: Known id tags: even the ceiling must answer Invalid to an unknown tag (answers are checked).
KNOWN_TAGS: set[str] = set()


def _now() -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()


def answer(action: str, payload: dict[str, object]) -> bytes:
    if action == "Authorize":
        return _ACCEPTED_TAG if payload.get("idTag") in KNOWN_TAGS else _INVALID_TAG
    if action == "Heartbeat":
        return b'{"currentTime":"' + _now() + b'"}'
    if action == "BootNotification":
        return b'{"currentTime":"' + _now() + b'","interval":300,"status":"Accepted"}'
    if action == "StopTransaction":
        return _ACCEPTED_TAG
    if action == "StartTransaction":
        return b'{"transactionId":%d,"idTagInfo":{"status":"Accepted"}}' % next(_TX)
    if action == "DataTransfer":
        return b'{"status":"Accepted"}'
    return _EMPTY  # StatusNotification, MeterValues, *StatusNotification ...


async def handler(ws: ServerConnection) -> None:
    loads = orjson.loads
    dumps = orjson.dumps
    try:
        while True:
            raw = await ws.recv(decode=False)
            try:
                msg = loads(raw)
                if msg[0] != 2:
                    continue
                uid, action, payload = msg[1], msg[2], msg[3]
            except (orjson.JSONDecodeError, IndexError, TypeError, KeyError):
                continue
            await ws.send(b"[3," + dumps(uid) + b"," + answer(action, payload) + b"]", text=True)
    except ConnectionClosed:
        pass


async def main_async(stop: asyncio.Event, host: str, port: int, id_tags: int) -> None:
    KNOWN_TAGS.update(id_tag_for(i) for i in range(id_tags))
    async with serve(
        handler,
        host,
        port,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression=None,
        max_queue=4,
        ping_interval=None,
        backlog=4096,
        process_request=health_check,
        server_header=None,
    ):
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or "", argv)
    run(lambda stop: main_async(stop, args.host, args.port, args.id_tags), args.loop)


if __name__ == "__main__":
    main()
