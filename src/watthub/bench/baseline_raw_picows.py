"""Baseline "raw-picows": the ceiling of the WebSocket layer WattHub runs on (picows).

The same canned answers as ``raw-ws`` (``baseline_raw_ws.answer``), framed by picows instead of the
`websockets` asyncio server: the difference between the two is what the framing layer costs per
message, and WattHub's distance to this one is the cost of its OCPP pipeline.

Run: ``python -m watthub.bench.baseline_raw_picows --port 9000``.
"""

from __future__ import annotations

import asyncio

import orjson
from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from ._serverutil import parse_args, run
from .baseline_raw_ws import KNOWN_TAGS, answer
from .frames import id_tag_for


class _Echo(WSListener):  # type: ignore[misc]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            try:
                msg = orjson.loads(frame.get_payload_as_bytes())
                if msg[0] != 2:
                    return
                uid, action, payload = msg[1], msg[2], msg[3]
            except (orjson.JSONDecodeError, IndexError, TypeError, KeyError):
                return
            reply = b"[3," + orjson.dumps(uid) + b"," + answer(action, payload) + b"]"
            transport.send(WSMsgType.TEXT, reply)
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


def _factory(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    if request.path == b"/health":  # plain HTTP, so --probe-url works
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"ok\n"), None)
    accepted = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": "ocpp1.6"})
    return WSUpgradeResponseWithListener(accepted, _Echo())


async def main_async(stop: asyncio.Event, host: str, port: int, id_tags: int) -> None:
    KNOWN_TAGS.update(id_tag_for(i) for i in range(id_tags))
    server = await ws_create_server(_factory, host, port, backlog=4096)
    try:
        await stop.wait()
    finally:
        server.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or "", argv)
    run(lambda stop: main_async(stop, args.host, args.port, args.id_tags), args.loop)


if __name__ == "__main__":
    main()
