"""Load-generator worker: simulates a slice of the stations in its own process.

The parent (:mod:`watthub.bench.runner`) starts one worker process per generator core and talks to
it over a ``multiprocessing`` pipe with small command dicts (``connect``, ``idle``, ``mix``,
``close``). Each command is bounded in time; a worker exits when the pipe closes or on ``close``.

Per station there is one WebSocket connection and one reader task. The reader matches CALLRESULT /
CALLERROR frames to the single outstanding CALL (OCPP-J allows one per direction) by message id and
timestamps the answer as soon as the frame is parsed. In the mix the latency is measured from the
time the CALL was *scheduled* (not from the moment it was handed to the socket), so a station held
back by a slow server does not hide that wait (no coordinated omission). Every answer is checked
against what a correct CSMS must reply (:func:`frames.check_answer`); a wrong one is an error.
CALLs from the server are answered with a minimal CALLRESULT.
One sweeper task per worker fails CALLs whose answer is overdue (``timeout``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import resource
import time
from array import array
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from . import frames as F

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_loopback(url: str) -> None:
    """Refuse anything but loopback: the benchmark must never generate load on a network."""
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"benchmark traffic must go to 127.0.0.1 only, got {url!r}")


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft


class CallTimeout(Exception):
    pass


class ConnectionLost(Exception):
    pass


class Station:
    __slots__ = (
        "cycle_pos",
        "deadline",
        "fut",
        "index",
        "lat",
        "meter",
        "mid",
        "reader",
        "seq",
        "serial",
        "session",
        "sid",
        "t_recv",
        "t_sent",
        "tag",
        "tag_expect",
        "tags_used",
        "tx",
        "ws",
    )

    def __init__(self, index: int, prefix: str = "BENCH") -> None:
        self.index = index
        self.sid = F.station_id(index).replace("BENCH", prefix, 1)
        self.serial = F.Template.q(self.sid)
        self.tag = F.Template.q(F.id_tag_for(index))
        self.tag_expect = "Accepted"
        self.session = 0
        self.tags_used = 0
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.seq = 0
        self.mid = ""
        self.fut: asyncio.Future[list[Any]] | None = None
        self.t_sent = 0.0
        self.t_recv = 0.0
        self.deadline = 0.0
        self.lat = 0.0
        self.tx = 0
        self.meter = random.randrange(0, 10_000_000)
        self.cycle_pos = 0


class Worker:
    def __init__(self, cfg: dict[str, Any]) -> None:
        check_loopback(cfg["url_base"])
        self.cfg = cfg
        self.url_base: str = cfg["url_base"]
        self.timeout: float = float(cfg.get("timeout", 30.0))
        prefix = str(cfg.get("station_prefix") or "BENCH")
        self.stations = [Station(i, prefix) for i in cfg["indices"]]
        self.stations_total = int(cfg.get("stations_total") or len(self.stations) or 1)
        self.unknown_share = float(cfg.get("unknown_tag_share", 0.0))
        self.rng = random.Random(int(cfg.get("seed", 0)) * 31 + len(self.stations))
        password = cfg.get("password")
        self.password: bytes | None = password.encode() if password else None
        self.ts = F.Timestamp()
        self.unexpected = 0
        self.server_calls = 0
        cycle: list[tuple[str, str | None]] = []
        for action, arg in F.MIX_CYCLE:
            n = int(cfg.get("meter_per_tx", 8)) if action == "MeterValues" else 1
            cycle.extend([(action, arg)] * n)
        self.cycle = cycle
        self.status_bytes = {
            s: F.Template.q(s) for s in ("Preparing", "Charging", "Available", "Finishing")
        }

    # ------------------------------------------------------------------ plumbing

    async def _reader(self, st: Station) -> None:
        ws = st.ws
        loads = orjson.loads
        clock = time.monotonic
        try:
            while True:
                raw = await ws.recv(decode=False)
                now = clock()
                st.t_recv = now
                try:
                    msg = loads(raw)
                    kind = msg[0]
                except (orjson.JSONDecodeError, IndexError, TypeError):
                    self.unexpected += 1
                    continue
                if kind == 3 or kind == 4:
                    fut = st.fut
                    if fut is not None and msg[1] == st.mid and not fut.done():
                        st.lat = now - st.t_sent
                        fut.set_result(msg)
                    else:
                        self.unexpected += 1
                elif kind == 2:
                    self.server_calls += 1
                    payload = F.CHARGE_POINT_ANSWERS.get(msg[2], b"{}")
                    await ws.send(b"[3," + orjson.dumps(msg[1]) + b"," + payload + b"]", text=True)
                else:
                    self.unexpected += 1
        except ConnectionClosed:
            pass
        finally:
            fut = st.fut
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionLost(st.sid))

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            for st in self.stations:
                fut = st.fut
                if fut is not None and not fut.done() and now > st.deadline:
                    fut.set_exception(CallTimeout(st.sid))

    def _next_mid(self, st: Station) -> bytes:
        st.seq += 1
        st.mid = str(st.seq)
        return b'"' + st.mid.encode() + b'"'

    async def call(self, st: Station, frame: bytes) -> list[Any]:
        """Send one CALL (its id is ``st.mid``) and wait for the matching answer."""
        if st.ws is None:
            raise ConnectionLost(st.sid)
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        st.fut = fut
        st.deadline = time.monotonic() + self.timeout
        st.t_sent = time.monotonic()
        try:
            await st.ws.send(frame, text=True)
            return await fut
        except ConnectionClosed as exc:
            raise ConnectionLost(st.sid) from exc
        finally:
            st.fut = None

    # ------------------------------------------------------------------ frames

    def frame_for(self, st: Station, action: str, arg: str | None) -> bytes:
        mid = self._next_mid(st)
        if action == "MeterValues":
            st.meter += 61
            return F.METER_VALUES.render(
                mid=mid, tx=b"%d" % st.tx, ts=self.ts.get(), energy=b'"%d"' % st.meter
            )
        if action == "StatusNotification":
            return F.STATUS.render(
                mid=mid, status=self.status_bytes[arg or "Available"], ts=self.ts.get()
            )
        if action == "Heartbeat":
            return F.HEARTBEAT.render(mid=mid)
        if action == "Authorize":
            # A new session: the next tag of this station's own slice of the known tags (so
            # stations never share one), or now and then a tag nobody knows (must be Invalid).
            st.session += 1
            k = st.index + self.stations_total * st.session
            st.tag = F.Template.q(F.id_tag_for(k))
            if self.unknown_share and self.rng.random() < self.unknown_share:
                st.tag_expect = "Invalid"
                return F.AUTHORIZE.render(mid=mid, tag=F.Template.q(F.unknown_tag_for(k)))
            st.tag_expect = "Accepted"
            return F.AUTHORIZE.render(mid=mid, tag=st.tag)
        if action == "StartTransaction":
            return F.START.render(mid=mid, tag=st.tag, meter=b"%d" % st.meter, ts=self.ts.get())
        if action == "StopTransaction":
            return F.STOP.render(
                mid=mid, tx=b"%d" % st.tx, tag=st.tag, meter=b"%d" % st.meter, ts=self.ts.get()
            )
        if action == "BootNotification":
            return F.BOOT.render(mid=mid, serial=st.serial)
        raise ValueError(action)

    async def _open(self, st: Station, compression: str | None, kwargs: dict[str, Any]) -> Any:
        return await connect(
            self.url_base + st.sid,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=compression,
            ping_interval=None,
            max_size=2**20,
            max_queue=4,
            open_timeout=self.timeout,
            close_timeout=2,
            user_agent_header=None,
            **kwargs,
        )

    # ------------------------------------------------------------------ commands

    async def cmd_connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Connect (and boot) every station, all at ``start_at`` or with bounded concurrency."""
        start_at = float(cmd.get("start_at", 0.0)) or time.monotonic()
        concurrency = int(cmd.get("concurrency", 0))
        boot_deadline = start_at + float(cmd.get("boot_deadline_s", self.timeout * 2))
        sem = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        compression = None if self.cfg.get("compression", "none") == "none" else "deflate"
        local_hosts: list[str] = self.cfg.get("local_hosts") or []
        res: dict[str, Any] = {
            "connected": 0,
            "connect_failed": 0,
            "connect_errors": {},
            "accepted": 0,
            "not_accepted": 0,
            "boot_timeouts": 0,
            "boot_errors": 0,
            "boot_attempts": 0,
            "subprotocol_mismatch": 0,
            "boot_wrong": 0,
            "http_statuses": {},
            "connect_lat": array("d"),
            "boot_lat": array("d"),
            "last_accept_at": 0.0,
        }

        async def one(st: Station) -> None:
            delay = start_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if sem is None:
                await connect_and_boot(st)
            else:
                async with sem:
                    await connect_and_boot(st)

        async def connect_and_boot(st: Station) -> None:
            kwargs: dict[str, Any] = {}
            if self.password is not None:
                token = base64.b64encode(st.sid.encode() + b":" + self.password).decode()
                kwargs["additional_headers"] = {"Authorization": "Basic " + token}
            if local_hosts:
                kwargs["local_addr"] = (local_hosts[st.index % len(local_hosts)], 0)
            t0 = time.monotonic()
            while True:
                try:
                    ws = await self._open(st, compression, kwargs)
                except Exception as exc:
                    status = getattr(getattr(exc, "response", None), "status_code", None)
                    if status is not None:
                        key = str(status)
                        res["http_statuses"][key] = res["http_statuses"].get(key, 0) + 1
                    if status in (429, 503):
                        # Told to come back later (overload / back-off): retry after Retry-After,
                        # as a charger does, within the deadline.
                        headers = exc.response.headers  # type: ignore[attr-defined]
                        wait = min(max(float(headers.get("Retry-After") or 1), 0.5), 10.0)
                        if time.monotonic() + wait <= boot_deadline:
                            await asyncio.sleep(wait)
                            continue
                    res["connect_failed"] += 1
                    key = type(exc).__name__
                    res["connect_errors"][key] = res["connect_errors"].get(key, 0) + 1
                    return
                break
            res["connect_lat"].append(time.monotonic() - t0)
            res["connected"] += 1
            if ws.subprotocol != "ocpp1.6":
                res["subprotocol_mismatch"] += 1
            st.ws = ws
            st.reader = asyncio.create_task(self._reader(st))
            if not cmd.get("boot", True):
                return
            while True:
                res["boot_attempts"] += 1
                try:
                    msg = await self.call(st, self.frame_for(st, "BootNotification", None))
                except CallTimeout:
                    res["boot_timeouts"] += 1
                    return
                except ConnectionLost:
                    res["boot_errors"] += 1
                    return
                res["boot_lat"].append(st.lat)
                if msg[0] != 3:
                    res["boot_errors"] += 1
                    return
                payload = msg[2] if isinstance(msg[2], dict) else {}
                if not F.check_answer("BootNotification", payload):
                    res["boot_wrong"] += 1
                    return
                if payload.get("status") == "Accepted":
                    res["accepted"] += 1
                    now = time.monotonic()
                    res["last_accept_at"] = max(res["last_accept_at"], now)
                    return
                # Pending / Rejected: retry after the advertised interval, within the deadline.
                wait = min(max(float(payload.get("interval") or 1), 0.5), 10.0)
                if time.monotonic() + wait > boot_deadline:
                    res["not_accepted"] += 1
                    return
                await asyncio.sleep(wait)

        cpu0 = time.process_time()
        await asyncio.gather(*(one(st) for st in self.stations if st.ws is None))
        res["gen_cpu_s"] = time.process_time() - cpu0
        return res

    async def cmd_idle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Hold the connections; each station sends a Heartbeat every ``interval`` seconds."""
        duration = float(cmd["duration"])
        interval = float(cmd["interval"])
        t_start = time.monotonic()
        end = t_start + duration
        lat = array("d")
        counts = {"ok": 0, "errors": 0, "timeouts": 0}

        async def one(st: Station) -> None:
            next_t = t_start + random.random() * interval
            while next_t < end and st.ws is not None:
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))
                try:
                    msg = await self.call(st, self.frame_for(st, "Heartbeat", None))
                except CallTimeout:
                    counts["timeouts"] += 1
                    return
                except ConnectionLost:
                    counts["errors"] += 1
                    return
                if msg[0] == 3:
                    counts["ok"] += 1
                    lat.append(st.lat)
                else:
                    counts["errors"] += 1
                next_t += interval

        cpu0 = time.process_time()
        await asyncio.gather(*(one(st) for st in self.stations))
        return {
            "heartbeat_lat": lat,
            **counts,
            "gen_cpu_s": time.process_time() - cpu0,
            "server_calls": self.server_calls,
        }

    async def cmd_mix(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Open-loop message mix: every station sends on its own schedule at ``rate`` msg/s.

        A station that falls behind its schedule sends its next CALL as soon as the previous
        answer arrives (one outstanding CALL per connection, as OCPP-J requires), so the offered
        load stays at the target until the server cannot keep up.
        """
        rate = float(cmd["rate_per_station"])
        start_at = float(cmd["start_at"])
        end_at = start_at + float(cmd["duration"])
        period = 1.0 / rate
        cycle = self.cycle
        lat: dict[str, array[float]] = {a: array("d") for a, _ in F.MIX_CYCLE}
        ok = dict.fromkeys(lat, 0)
        errors = dict.fromkeys(lat, 0)
        wrong = dict.fromkeys(lat, 0)
        wrong_samples: list[str] = []
        timeouts = dict.fromkeys(lat, 0)
        counters = {"sent": 0, "done_in_window": 0, "disconnected": 0, "late": 0}
        max_lag = [0.0]

        async def one(st: Station) -> None:
            next_t = start_at + random.random() * period
            while next_t < end_at:
                now = time.monotonic()
                if next_t > now:
                    await asyncio.sleep(next_t - now)
                else:
                    lag = now - next_t
                    if lag > period:
                        counters["late"] += 1
                    if lag > max_lag[0]:
                        max_lag[0] = lag
                if st.ws is None:
                    counters["disconnected"] += 1
                    return
                action, arg = cycle[st.cycle_pos]
                st.cycle_pos = (st.cycle_pos + 1) % len(cycle)
                frame = self.frame_for(st, action, arg)
                counters["sent"] += 1
                try:
                    msg = await self.call(st, frame)
                except CallTimeout:
                    timeouts[action] += 1
                    next_t += period
                    continue
                except ConnectionLost:
                    errors[action] += 1
                    counters["disconnected"] += 1
                    st.ws = None
                    return
                # From the scheduled send time: a CALL that had to wait for the previous answer
                # counts that wait (no coordinated omission).
                latency = st.t_recv - next_t
                # Only the Authorize may present an unknown tag; the session then starts and
                # stops with its known tag, which must be Accepted.
                expect = st.tag_expect if action == "Authorize" else "Accepted"
                if msg[0] == 3 and F.check_answer(action, msg[2], expect):
                    ok[action] += 1
                    lat[action].append(latency)
                    if st.t_recv <= end_at:
                        counters["done_in_window"] += 1
                    if action == "StartTransaction":
                        st.tx = msg[2]["transactionId"]
                else:
                    errors[action] += 1
                    if msg[0] == 3:
                        wrong[action] += 1
                    if len(wrong_samples) < 5:
                        wrong_samples.append(f"{action}: {orjson.dumps(msg).decode()[:200]}")
                    if action == "StartTransaction":
                        st.tx = 0
                next_t += period

        cpu0 = time.process_time()
        await asyncio.gather(*(one(st) for st in self.stations))
        return {
            "lat": lat,
            "ok": ok,
            "errors": errors,
            "wrong": wrong,
            "wrong_samples": wrong_samples,
            "timeouts": timeouts,
            **counters,
            "max_lag_s": max_lag[0],
            "gen_cpu_s": time.process_time() - cpu0,
            "unexpected": self.unexpected,
            "server_calls": self.server_calls,
        }

    async def cmd_warmup(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Put every station at a random point of its session cycle (not measured).

        Without this all stations would start the mix with the same action. A station placed
        inside a transaction first sends an (unmeasured) StartTransaction to get a transactionId.
        """
        actions = [a for a, _ in self.cycle]
        start_idx = actions.index("StartTransaction")
        stop_idx = actions.index("StopTransaction")
        counts = {"started": 0, "errors": 0}
        sem = asyncio.Semaphore(int(cmd.get("concurrency", 100)))

        async def one(st: Station) -> None:
            st.cycle_pos = random.randrange(len(self.cycle))
            if not (start_idx < st.cycle_pos <= stop_idx) or st.ws is None:
                return
            async with sem:
                try:
                    msg = await self.call(st, self.frame_for(st, "StartTransaction", None))
                except (CallTimeout, ConnectionLost):
                    counts["errors"] += 1
                    return
            if msg[0] != 3 or not F.check_answer("StartTransaction", msg[2]):
                counts["errors"] += 1
                return
            st.tx = msg[2]["transactionId"]
            counts["started"] += 1

        await asyncio.gather(*(one(st) for st in self.stations))
        return counts

    async def cmd_finish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Stop the transactions left open by the mix, so a later run starts from a clean state
        (an open transaction would make its tag a legitimate ``ConcurrentTx``)."""
        actions = [a for a, _ in self.cycle]
        start_idx = actions.index("StartTransaction")
        stop_idx = actions.index("StopTransaction")
        counts = {"stopped": 0, "errors": 0}
        sem = asyncio.Semaphore(int(cmd.get("concurrency", 100)))

        async def one(st: Station) -> None:
            if not (start_idx < st.cycle_pos <= stop_idx) or st.ws is None or st.tx <= 0:
                return
            async with sem:
                try:
                    msg = await self.call(st, self.frame_for(st, "StopTransaction", None))
                except (CallTimeout, ConnectionLost):
                    counts["errors"] += 1
                    return
            counts["stopped" if msg[0] == 3 else "errors"] += 1
            st.cycle_pos = stop_idx + 1
            st.tx = 0

        await asyncio.gather(*(one(st) for st in self.stations))
        return counts

    async def cmd_disconnect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Drop every connection (all at once, as a network outage would) and keep running."""
        return await self.cmd_close(cmd)

    async def cmd_close(self, cmd: dict[str, Any]) -> dict[str, Any]:
        async def one(st: Station) -> None:
            if st.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(st.ws.close(), 3)
            if st.reader is not None:
                st.reader.cancel()
            st.ws = None

        await asyncio.gather(*(one(st) for st in self.stations))
        return {"closed": len(self.stations), "unexpected": self.unexpected}

    # ------------------------------------------------------------------ command loop

    async def serve(self, conn: Any, out: Any) -> None:
        """Read commands from ``conn`` (watched by the loop) and write results to ``out``.

        Two one-way pipes: the loop makes the fd it watches non-blocking, and a multi-megabyte
        result must be written with a blocking write.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def on_readable() -> None:
            try:
                queue.put_nowait(conn.recv())
            except (EOFError, OSError):
                loop.remove_reader(conn.fileno())
                queue.put_nowait(None)

        loop.add_reader(conn.fileno(), on_readable)
        sweeper = asyncio.create_task(self._sweeper())
        out.send({"ready": True, "pid": os.getpid(), "loop": type(loop).__module__})
        max_idle = float(self.cfg.get("max_idle_s", 3600))
        try:
            while True:
                try:
                    cmd = await asyncio.wait_for(queue.get(), max_idle)
                except TimeoutError:
                    cmd = None
                if cmd is None:
                    await self.cmd_close({})
                    return
                name = cmd["cmd"]
                try:
                    result = await getattr(self, "cmd_" + name)(cmd)
                except Exception as exc:  # report, don't die silently
                    result = {"error": f"{type(exc).__name__}: {exc}"}
                out.send(result)
                if name == "close":
                    return
        finally:
            sweeper.cancel()
            with contextlib.suppress(Exception):
                loop.remove_reader(conn.fileno())


def worker_main(conn: Any, out: Any, cfg: dict[str, Any]) -> None:
    """Entry point of a worker process (multiprocessing target)."""
    raise_nofile_limit()
    random.seed(cfg.get("seed", 0) * 7919 + (cfg["indices"][0] if cfg["indices"] else 0))
    loop_factory = None
    if cfg.get("uvloop", True):
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(Worker(cfg).serve(conn, out))
