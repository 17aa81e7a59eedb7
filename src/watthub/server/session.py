"""One station connection: reads frames, answers the station's CALLs, carries our CALLs.

Messages arrive through a callback, in order, as the WebSocket layer reads them (no task wakes up
per message); the station's CALLs are handled in order by a worker task that exists only while
there is work, so CALLRESULTs for our calls are read even while a handler waits for the database,
and a handler can never deadlock on a call to its own station."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from watthub.domain.context import Services, StationContext
from watthub.domain.registry import HANDLERS
from watthub.gateway import StationCallError, StationNotConnected, StationTimeout
from watthub.logs import throttle
from watthub.ocppj import frames, schemas
from watthub.ocppj.errors import ErrorCode, OcppError
from watthub.ocppj.rpc import PendingCalls
from watthub.server.message_log import MessageLogger
from watthub.server.ws_link import LinkClosed, StationLink
from watthub.storage import messages_repo
from watthub.storage.writer import DatabaseUnavailable, is_unavailable

logger = logging.getLogger("watthub.station")

# A flooding station is disconnected once the call in hand is answered, waiting at most this long:
# an answer that never leaves would make the charger redeliver data that is already stored.
FLOOD_ANSWER_WAIT = 5.0


class StationLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs.setdefault("extra", {})["station"] = self.extra["station"]  # type: ignore[index]
        return f"[{self.extra['station']}] {msg}", kwargs  # type: ignore[index]


@dataclass(slots=True)
class _Inbound:
    """A station's CALL waiting for its answer."""

    call: frames.Call
    data: bytes  # the frame as read, for the message log
    received: float  # time.perf_counter()
    at: float  # time.time()


class StationSession:
    def __init__(
        self,
        ws: StationLink,
        station_id: str,
        station: dict[str, Any],
        services: Services,
        message_log: MessageLogger,
    ) -> None:
        self.ws = ws
        self.station_id = station_id
        self.services = services
        self.log = StationLog(logger, {"station": station_id})
        self.ctx = StationContext(station_id, services, station, self.log)
        self.last_seen = time.time()
        self.connected_at = self.last_seen
        self.validation_errors = 0
        self._message_log = message_log
        self._pending = PendingCalls()
        self._call_lock = asyncio.Lock()
        # Each CALL with the time it was read (perf_counter: the handling latency includes
        # queueing) and, for the message log, its frame and wall-clock time of arrival.
        self._inbox: deque[_Inbound] = deque()
        self._in_progress: set[str] = set()
        self._worker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        self._flooded = False
        self._max_inbox = services.settings.max_inbound_queue
        self._metrics = services.metrics
        # loop.create_task, not asyncio.create_task: that one looks the loop up each time (a
        # getpid() system call in CPython 3.11), and a worker task is started per burst of CALLs.
        self._loop = asyncio.get_running_loop()

    @property
    def lenient(self) -> bool:
        return self.ctx.station.get("validation_policy") == "lenient"

    async def run(self) -> None:
        """Until the connection closes; its messages reach ``_on_frame`` as they arrive."""
        try:
            self.ws.attach(self._on_frame)
            await self.ws.wait_closed()
        finally:
            self._closed = True
            self._pending.fail_all(StationNotConnected(f"Station {self.station_id} disconnected"))
            if self._worker is not None:
                # Let the message in hand finish: its data may already be committed.
                await asyncio.gather(self._worker, return_exceptions=True)

    async def close(self, reason: str, code: int = 1000) -> None:
        self._closed = True
        await self.ws.close(code, reason[:120])

    # -- inbound ---------------------------------------------------------------------------------

    def _on_frame(self, data: bytes) -> None:
        self.last_seen = time.time()
        try:
            frame = frames.parse_frame(data)
        except frames.FrameError as exc:
            self._message_log.record(self.station_id, "in", 0, None, exc.message_id, data)
            # Per station and interval: a station sending garbage in a loop is one line, counted.
            throttle.log(
                self.log,
                f"bad-frame:{self.station_id}",
                logging.WARNING,
                "bad frame: %s",
                exc.description,
            )
            if exc.message_id is not None:
                self._metrics.callerror_sent(None, exc.code)
                with contextlib.suppress(LinkClosed):
                    self._send(
                        frames.encode_error(exc.message_id, exc.code, exc.description),
                        frames.CALLERROR,
                        None,
                        exc.message_id,
                    )
            return
        if frame is None:
            self._message_log.record(self.station_id, "in", 0, None, None, data)
            throttle.log(
                self.log,
                f"bad-frame:{self.station_id}",
                logging.WARNING,
                "ignored a frame with an unknown message type",
            )
            return
        if isinstance(frame, frames.Call):
            # Logged with its answer, as one row (or alone if it is never answered).
            self._enqueue(frame, data)
            return
        pending = self._pending.resolve(frame.message_id, frame)
        kind = frames.CALLRESULT if isinstance(frame, frames.CallResult) else frames.CALLERROR
        action = pending.action if pending is not None else None
        self._message_log.record(self.station_id, "in", kind, action, frame.message_id, data)
        if pending is None:
            self.log.warning("dropped a late or unknown answer (message id %s)", frame.message_id)

    def _enqueue(self, call: frames.Call, data: bytes) -> None:
        if self._flooded:
            # Being disconnected: not handled, so the charger sends it again later.
            self._log_unanswered(call, data, self.last_seen)
            return
        if call.message_id in self._in_progress:
            # OCPP-J §4.2.3: a call with the same id is being handled already.
            self._metrics.callerror_sent(call.action, ErrorCode.PROTOCOL_ERROR)
            with contextlib.suppress(LinkClosed):
                self._answer(
                    _Inbound(call, data, 0.0, self.last_seen),
                    frames.encode_error(
                        call.message_id,
                        ErrorCode.PROTOCOL_ERROR,
                        "A call with this message id is being handled already",
                    ),
                    frames.CALLERROR,
                )
            return
        if len(self._inbox) >= self._max_inbox:
            self.log.warning(
                "more than %d unanswered calls queued: disconnecting a flooding station",
                self._max_inbox,
            )
            # The queued calls are dropped unhandled (nothing stored, the charger resends them);
            # the one in hand is finished and answered before the close.
            for dropped in self._inbox:
                self._in_progress.discard(dropped.call.message_id)
                self._log_unanswered(dropped.call, dropped.data, dropped.at)
            self._inbox.clear()
            self._log_unanswered(call, data, self.last_seen)
            self._flooded = True
            self._spawn(self._close_flooding())
            return
        self._in_progress.add(call.message_id)
        self._inbox.append(_Inbound(call, data, time.perf_counter(), self.last_seen))
        if self._worker is None:
            self._worker = self._loop.create_task(self._work())

    async def _close_flooding(self) -> None:
        worker = self._worker
        if worker is not None:
            # A timeout, or the worker's own failure (logged there): close all the same.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(worker), FLOOD_ANSWER_WAIT)
        await self.close("inbound queue limit exceeded", 1008)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _work(self) -> None:
        try:
            while self._inbox:
                inbound = self._inbox.popleft()
                call = inbound.call
                try:
                    reply, kind = await self._handle(call)
                except BaseException:
                    # Cancelled while handling (the server stops): the CALL is still logged.
                    self._log_unanswered(call, inbound.data, inbound.at)
                    raise
                finally:
                    self._in_progress.discard(call.message_id)
                try:
                    self._answer(inbound, reply, kind)
                except LinkClosed:
                    self.log.info("connection closed before the %s answer was sent", call.action)
                else:
                    if self.ws.write_paused:  # the station does not read: wait, don't pile up
                        await self.ws.drain()
                self._metrics.message_in(
                    call.action, kind == frames.CALLRESULT, time.perf_counter() - inbound.received
                )
        finally:
            self._worker = None
            for left in self._inbox if self._closed else ():
                # Never handled (the worker was cancelled with the connection): logged alone.
                self._log_unanswered(left.call, left.data, left.at)

    async def _handle(self, call: frames.Call) -> tuple[bytes, int]:
        try:
            if call.action not in schemas.known_actions():
                raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"Unknown action {call.action}")
            handler = HANDLERS.get(call.action)
            if handler is None:
                raise OcppError(
                    ErrorCode.NOT_SUPPORTED,
                    f"{call.action} is not supported by this central system",
                )
            try:
                schemas.validate(call.action, call.payload)
            except schemas.UnstorableValue:
                raise  # never processed, lenient or not: the database could not hold it
            except OcppError as exc:
                if not self.lenient:
                    raise
                # The validator stops at the first problem; what it did not reach must still be
                # storable before a lenient station's payload is processed.
                unstorable = schemas.unstorable(call.payload)
                if unstorable is not None:
                    raise unstorable from None
                self._note_violation(call.action, exc)
            try:
                result = await handler(self.ctx, call.payload)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                if not self.lenient:
                    raise
                raise OcppError(
                    ErrorCode.FORMATION_VIOLATION, f"Payload could not be processed: {exc!r}"
                ) from exc
            return frames.encode_result(call.message_id, result), frames.CALLRESULT
        except OcppError as exc:
            throttle.log(
                self.log,
                f"callerror:{self.station_id}",
                logging.INFO,
                "%s answered with %s: %s",
                call.action,
                exc.code,
                exc.description,
            )
            self._metrics.callerror_sent(call.action, exc.code)
            return (
                frames.encode_error(call.message_id, exc.code, exc.description, exc.details),
                frames.CALLERROR,
            )
        except Exception as exc:
            # Never leave a station without an answer; it will retry transaction messages.
            # One line per kind of failure per interval: a stalled database fails every
            # station's messages at once, and a traceback each would bury the log.
            unavailable = is_unavailable(exc) or isinstance(exc, DatabaseUnavailable)
            throttle.log(
                self.log,
                f"handler:{call.action}:{type(exc).__name__}",
                logging.ERROR,
                "handling %s failed: %s",
                call.action,
                type(exc).__name__ if unavailable else repr(exc)[:300],
                exc_info=None if unavailable else exc,
            )
            self._metrics.callerror_sent(call.action, ErrorCode.INTERNAL_ERROR)
            return (
                frames.encode_error(
                    call.message_id, ErrorCode.INTERNAL_ERROR, "The central system failed"
                ),
                frames.CALLERROR,
            )

    def _note_violation(self, action: str, exc: OcppError) -> None:
        self.validation_errors += 1
        self.log.warning("lenient: %s violates the schema (%s), processing anyway", action, exc)
        error = f"{exc.code}: {exc.description}"
        station_id = self.station_id

        async def op(conn: Any) -> None:
            await messages_repo.insert_validation_event(conn, station_id, action, error)

        self.services.writer.post(op)

    # -- outbound --------------------------------------------------------------------------------

    def _send(self, frame: bytes, kind: int, action: str | None, message_id: str) -> None:
        self._message_log.record(self.station_id, "out", kind, action, message_id, frame)
        self.ws.send(frame)

    def _answer(self, inbound: _Inbound, frame: bytes, kind: int) -> None:
        """Answer a station's CALL; the CALL and the answer are logged as one row (before the
        send, as any frame we send: an answer lost with the connection is still on record)."""
        call = inbound.call
        self._message_log.exchange(
            self.station_id,
            call.action,
            call.message_id,
            inbound.data,
            inbound.at,
            kind,
            frame,
            time.time(),
        )
        self.ws.send(frame)

    def _log_unanswered(self, call: frames.Call, data: bytes, at: float) -> None:
        self._message_log.record(
            self.station_id, "in", frames.CALL, call.action, call.message_id, data, at
        )

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a CALL and wait for its answer. One outstanding CALL per station (OCPP-J §4.1.1);
        this method owns the timeout, and a late answer is dropped by id, never matched."""
        async with self._call_lock:
            if self._closed:
                raise StationNotConnected(f"Station {self.station_id} is not connected")
            pending = self._pending.open(action)
            started, result, code = time.perf_counter(), "cancelled", None
            try:
                try:
                    self._send(
                        frames.encode_call(pending.message_id, action, payload),
                        frames.CALL,
                        action,
                        pending.message_id,
                    )
                except LinkClosed as exc:
                    result = "disconnected"
                    raise StationNotConnected(f"Station {self.station_id} disconnected") from exc
                try:
                    async with asyncio.timeout(timeout):
                        outcome = await pending.future
                except TimeoutError:
                    result = "timeout"
                    self.log.warning("%s timed out after %.0f s", action, timeout)
                    raise StationTimeout(
                        f"Station {self.station_id} did not answer {action} within {timeout:g} s"
                    ) from None
                except StationNotConnected:
                    result = "disconnected"
                    raise
                if isinstance(outcome, frames.CallError):
                    result, code = "callerror", outcome.code
                else:
                    result = "ok"
            finally:
                self._pending.close(pending.message_id)
                self._metrics.call_out(action, result, time.perf_counter() - started, code)
        if isinstance(outcome, frames.CallError):
            raise StationCallError(outcome.code, outcome.description, outcome.details)
        try:
            schemas.validate(action, outcome.payload, response=True)
        except OcppError as exc:
            # A schema problem in an answer is only logged (the caller decides what it can use),
            # but an answer holding what no database column can store is not usable at all.
            unstorable = exc if isinstance(exc, schemas.UnstorableValue) else None
            unstorable = unstorable or schemas.unstorable(outcome.payload)
            if unstorable is not None:
                raise StationCallError(
                    unstorable.code, unstorable.description, unstorable.details
                ) from None
            self.log.warning("%s answer violates the schema: %s", action, exc.description)
        return outcome.payload
