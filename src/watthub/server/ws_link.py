"""The WebSocket layer of the OCPP endpoint: our own gate for the handshake, picows for frames.

Why picows and not the `websockets` asyncio server: at 4,000 msg/s that server cost ~72 µs of CPU
per message against picows' ~29 (docs/benchmarks.md, raw-ws against raw-picows), a fifth of all
WattHub spent per message. picows' handshake hook is synchronous, and admitting a station needs the
database (lookup, auto-registration, password check), so :class:`Gate` reads the HTTP request
itself, validates it with the `websockets` sans-I/O handshake (the same checks and refusal texts
as before), runs the asynchronous admission, answers a refusal with a plain HTTP response, and
hands an admitted connection — with the bytes read so far — to picows' protocol, whose
synchronous hook then only picks up the result.

A :class:`StationLink` is what the station session sees: whole messages pushed to one callback in
the order they arrived (no task wake-up per message), a synchronous :meth:`StationLink.send`, an
asynchronous :meth:`StationLink.close`, and the close code."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # the protocol class ws_create_server builds (pinned picows)
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

log = logging.getLogger("watthub.ocpp")
# picows logs every connection and disconnection at INFO (one child logger per socket); WattHub
# logs those itself, with the station id. Its warnings and errors (protocol errors) still show.
_wire = logging.getLogger("watthub.ocpp.wire")
_wire.setLevel(logging.WARNING)
# An adapter, not the Logger: given a Logger, picows makes a child Logger per connection (~1 KiB
# each, kept for the connection's life).
wire_log = logging.LoggerAdapter(_wire, {})

#: An HTTP request head longer than this is refused (431); `websockets` allowed 128 lines of 8 KiB.
MAX_REQUEST_HEAD = 16 * 1024
#: Bytes a client may send while its handshake waits for admission (before our 101).
MAX_EARLY_BYTES = 64 * 1024
#: Messages a station may send before its session attaches (a moment after the upgrade).
MAX_EARLY_MESSAGES = 64
_CLOSE_REASON_BYTES = 123  # RFC 6455 §5.5: a control frame's payload is at most 125 bytes


class LinkClosed(Exception):
    """The connection is closed (or closing): nothing more can be sent on it."""


@dataclass(frozen=True, slots=True)
class LinkOptions:
    subprotocol: str
    max_message_size: int
    ping_interval: float | None
    ping_timeout: float | None
    open_timeout: float | None
    close_timeout: float = 10.0
    server_header: str = "WattHub"


#: ``admit(request, peer_ip, ssl_object)``: a refusal ``Response``, or what the handler needs.
Admit = Callable[[Request, str | None, Any], Awaitable[Any]]
#: ``handler(link, admitted)``: runs for the life of the connection.
Handler = Callable[["StationLink", Any], Awaitable[None]]


def plain_response(
    status: int, phrase: str, text: str, extra: dict[str, str] | None = None
) -> Response:
    body = (text + "\n").encode()
    headers = Headers(
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    for key, value in (extra or {}).items():
        headers[key] = value
    return Response(status, phrase, headers, body)


class Endpoint:
    """One listening endpoint: the gates in handshake, the open links and their handler tasks."""

    def __init__(self, options: LinkOptions, admit: Admit, handler: Handler) -> None:
        self.options = options
        self.admit = admit
        self.handler = handler
        self.gates: set[Gate] = set()
        self.links: set[StationLink] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.AbstractServer | None = None
        self._loop = asyncio.get_running_loop()

    def protocol(self) -> Gate:
        return Gate(self)

    def run_handler(self, link: StationLink, admitted: Any) -> None:
        task = self._loop.create_task(self._handle(link, admitted))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, link: StationLink, admitted: Any) -> None:
        self.links.add(link)
        try:
            await self.handler(link, admitted)
        except Exception:
            log.exception("connection handler failed")
        finally:
            self.links.discard(link)
            # The handler returns when the station is gone; if not, the connection goes too.
            await link.close(1000, "")

    async def close(self) -> None:
        """Stop listening, refuse handshakes in progress, close every link (1001 going away)
        and wait for their handlers."""
        if self.server is not None:
            self.server.close()
        for gate in list(self.gates):
            gate.abort()
        await asyncio.gather(
            *(link.close(1001, "server shutting down") for link in list(self.links)),
            return_exceptions=True,
        )
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)


class Gate(asyncio.Protocol):
    """The handshake of one connection, until it is refused or handed to picows."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._endpoint.gates.add(self)
        timeout = self._endpoint.options.open_timeout
        if timeout:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(timeout, self._timed_out)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._task is not None:
            # Admission in progress: a well-behaved client waits for our answer; one that
            # streams on is not buffered without bound.
            if len(self._buffer) > MAX_EARLY_BYTES:
                self.abort()
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_REQUEST_HEAD:
                self._refuse(plain_response(431, "Request Header Fields Too Large", "Too large"))
            return
        try:
            request = _parse_request(bytes(self._buffer[: end + 4]))
        except Exception as exc:
            self._refuse(plain_response(400, "Bad Request", f"Invalid HTTP request: {exc}"))
            return
        self._task = asyncio.get_running_loop().create_task(self._admit(request))

    def eof_received(self) -> bool | None:
        return None  # close

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def abort(self) -> None:
        self._finish()
        if self._transport is not None:
            self._transport.abort()

    def _finish(self) -> None:
        self._finished = True
        self._endpoint.gates.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        log.info(
            "handshake not completed in %s s: connection closed",
            self._endpoint.options.open_timeout,
        )
        self.abort()

    async def _admit(self, request: Request) -> None:
        transport = self._transport
        assert transport is not None
        peername = transport.get_extra_info("peername")
        peer = peername[0] if peername else None
        try:
            outcome = await self._endpoint.admit(
                request, peer, transport.get_extra_info("ssl_object")
            )
        except Exception:
            log.exception("handshake failed")
            outcome = plain_response(500, "Internal Server Error", "Internal error")
        if self._finished or transport.is_closing():
            return
        if isinstance(outcome, Response):
            self._refuse(outcome)
            return
        # The websockets handshake checks (upgrade headers, key, version) and their refusals.
        options = self._endpoint.options
        checked = ServerProtocol(subprotocols=[options.subprotocol]).accept(request)  # type: ignore[list-item]
        if checked.status_code != 101:
            self._refuse(checked)
            return
        self._upgrade(outcome)

    def _refuse(self, response: Response) -> None:
        transport = self._transport
        self._finish()
        if transport is None or transport.is_closing():
            return
        headers = response.headers
        if "Date" not in headers:
            headers["Date"] = email.utils.formatdate(usegmt=True)
        if "Connection" not in headers:
            headers["Connection"] = "close"
        headers["Server"] = self._endpoint.options.server_header
        transport.write(response.serialize())
        transport.close()

    def _upgrade(self, admitted: Any) -> None:
        transport = self._transport
        assert transport is not None
        self._finish()
        options = self._endpoint.options
        link = StationLink(self._endpoint, admitted, transport)
        accepted = WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response(
                extra_headers={
                    "Sec-WebSocket-Protocol": options.subprotocol,
                    "Server": options.server_header,
                }
            ),
            link,
        )
        ping = options.ping_interval or 0
        protocol = WSProtocol(
            None,  # host and port (client side only)
            None,  # path (client side only)
            False,  # server side
            lambda _request: accepted,
            wire_log,
            True,  # an exception in our listener closes the connection (1011)
            None,  # the handshake timeout is ours (open_timeout, above)
            ping > 0,
            ping if ping > 0 else 20.0,
            min(options.ping_timeout or ping, ping) if ping > 0 else 20.0,
            WSAutoPingStrategy.PING_WHEN_IDLE,
            True,  # answer the station's pings
            options.max_message_size,
            None,  # extra headers (client side only)
            2048,  # the read buffer to start with (picows' least); it grows for larger messages
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        _feed(protocol, bytes(self._buffer))
        self._buffer = bytearray()


def _parse_request(head: bytes) -> Request:
    reader = StreamReader()
    reader.feed_data(head)
    parser = Request.parse(reader.read_line)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise InvalidMessage("incomplete HTTP request")


def _feed(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


class StationLink(WSListener):  # type: ignore[misc]
    """One open WebSocket connection, as the station session uses it."""

    def __init__(self, endpoint: Endpoint, admitted: Any, transport: asyncio.Transport) -> None:
        self._endpoint = endpoint
        self._admitted = admitted
        self._ws: WSTransport | None = None
        peername = transport.get_extra_info("peername")
        self.remote_address: tuple[Any, ...] | None = tuple(peername) if peername else None
        self.close_code: int | None = None
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._consumer: Callable[[bytes], None] | None = None
        self._early: list[bytes] = []
        self._fragments: list[bytes] | None = None
        self._fragments_size = 0
        self._writable: asyncio.Future[None] | None = None
        self._closing = False

    # -- picows callbacks (synchronous, in the order the bytes arrived) ---------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._ws = transport
        self._endpoint.run_handler(self, self._admitted)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if self._fragments is not None:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
            elif frame.fin:
                self._deliver(frame.get_payload_as_bytes())
            else:
                self._fragments = [frame.get_payload_as_bytes()]
                self._fragments_size = frame.payload_size
        elif kind is WSMsgType.CONTINUATION:
            if self._fragments is None:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "continuation without a message")
                return
            self._fragments_size += frame.payload_size
            if self._fragments_size > self._endpoint.options.max_message_size:
                self._fail(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
                return
            self._fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                data = b"".join(self._fragments)
                self._fragments = None
                self._deliver(data)
        elif kind is WSMsgType.CLOSE:
            code = frame.get_close_code()
            received = int(code.value if isinstance(code, WSCloseCode) else code)
            if self.close_code is None:
                self.close_code = received or 1005
            if not transport.is_close_frame_sent:
                transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake_writers()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        self._wake_writers()

    # -- what the session uses --------------------------------------------------------------------

    def attach(self, consumer: Callable[[bytes], None]) -> None:
        """Deliver every message from now on (and those that came before) to ``consumer``."""
        self._consumer = consumer
        early, self._early = self._early, []
        for data in early:
            if self._closing:
                break
            consumer(data)

    def send(self, data: bytes) -> None:
        ws = self._ws
        if self._closing or ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            raise LinkClosed("connection closed")
        ws.send(WSMsgType.TEXT, data)

    @property
    def write_paused(self) -> bool:
        return self._writable is not None

    async def drain(self) -> None:
        """Wait while the station does not read what we sent (the socket's buffer is full)."""
        writable = self._writable
        if writable is not None:
            await asyncio.wait((writable, self.closed), return_when=asyncio.FIRST_COMPLETED)

    async def wait_closed(self) -> None:
        await asyncio.shield(self.closed)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame, wait for the station's, then drop the connection."""
        self._closing = True
        ws = self._ws
        if ws is None or self.closed.done():
            return
        if not ws.is_close_frame_sent and not ws.is_disconnected:
            if self.close_code is None:
                self.close_code = code
            ws.send_close(_close_code(code), reason.encode()[:_CLOSE_REASON_BYTES])
        try:
            await asyncio.wait_for(
                asyncio.shield(self.closed), self._endpoint.options.close_timeout
            )
        except TimeoutError:
            ws.disconnect(graceful=False)

    # -- internals --------------------------------------------------------------------------------

    def _deliver(self, data: bytes) -> None:
        if self._closing:
            return
        consumer = self._consumer
        if consumer is not None:
            consumer(data)
            return
        if len(self._early) >= MAX_EARLY_MESSAGES:
            self._fail(WSCloseCode.POLICY_VIOLATION, "too many messages before the session began")
            return
        self._early.append(data)

    def _fail(self, code: WSCloseCode, reason: str) -> None:
        self._closing = True
        ws = self._ws
        if ws is None:
            return
        if self.close_code is None:
            self.close_code = int(code.value)
        if not ws.is_close_frame_sent:
            ws.send_close(code, reason.encode()[:_CLOSE_REASON_BYTES])
        ws.disconnect()

    def _wake_writers(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)


def _close_code(code: int) -> Any:
    try:
        return WSCloseCode(code)
    except ValueError:
        return code
