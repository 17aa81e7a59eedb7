"""Benchmark orchestration: worker pool, scenarios (hold, storm, mix) and the per-target loop."""

from __future__ import annotations

import http.client
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import frames as F
from . import procstats
from .loadgen import check_loopback, raise_nofile_limit, worker_main
from .stats import summarize_ms
from .targets import TARGETS, BenchError, RunningServer, ServerTarget, run_step

SCENARIOS = ("hold", "storm", "storm-known", "storm-password", "mix")
#: Scenarios that only make sense for WattHub (pre-registered stations, passwords).
WATTHUB_ONLY = frozenset({"storm-known", "storm-password"})
#: Source addresses used when one (src, dst) pair would run out of ephemeral ports.
PER_SOURCE_ADDRESS = 20_000


@dataclass
class BenchConfig:
    targets: list[str] = field(default_factory=lambda: ["raw-ws", "ocpp-lib"])
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    hold_stations: int = 1000
    storm_stations: int = 1000
    mix_stations: int = 200
    workers: int = max(1, (os.cpu_count() or 2) - 1)
    uvloop: bool = True
    server_loop: str = "uvloop"
    compression: str = "none"
    timeout: float = 30.0
    connect_concurrency: int = 100
    heartbeat_interval: float = 30.0
    hold_window: float = 10.0
    storm_deadline: float = 120.0
    password_stations: int = 2000
    mix_start_rate: float = 500.0
    mix_factor: float = 1.5
    mix_max_steps: int = 14
    mix_probe_seconds: float = 5.0
    mix_bisect: int = 3
    mix_repeats: int = 3
    mix_step_seconds: float = 10.0
    mix_max_p99_ms: float = 50.0
    mix_min_ratio: float = 0.9
    unknown_tag_share: float = 0.02
    pg_url: str | None = None
    max_noise_pct: float = 20.0
    noise_retries: int = 2
    meter_per_tx: int = 8
    probe_url: str | None = None
    probe_interval: float = 0.05
    db_url: str | None = None
    watthub_env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    max_seconds: float = 1800.0
    seed: int = 1
    quiet: bool = False


def log(cfg: BenchConfig, msg: str) -> None:
    if not cfg.quiet:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- worker pool


class WorkerPool:
    """Generator processes; station ``i`` lives in worker ``i % workers``."""

    def __init__(
        self,
        cfg: BenchConfig,
        url_base: str,
        stations: int,
        prefix: str = "BENCH",
        password: str | None = None,
    ) -> None:
        check_loopback(url_base)
        raise_nofile_limit()
        workers = max(1, min(cfg.workers, stations))
        ctx = mp.get_context("spawn")
        n_sources = 1 + (stations - 1) // PER_SOURCE_ADDRESS
        local_hosts = [f"127.0.0.{k + 1}" for k in range(n_sources)] if n_sources > 1 else []
        self.conns: list[Any] = []  # results, worker -> parent
        self.cmd_conns: list[Any] = []  # commands, parent -> worker
        self.procs: list[Any] = []
        for w in range(workers):
            cmd_r, cmd_w = ctx.Pipe(duplex=False)
            res_r, res_w = ctx.Pipe(duplex=False)
            wcfg = {
                "url_base": url_base,
                "indices": list(range(w, stations, workers)),
                "timeout": cfg.timeout,
                "compression": cfg.compression,
                "meter_per_tx": cfg.meter_per_tx,
                "uvloop": cfg.uvloop,
                "seed": cfg.seed,
                "local_hosts": local_hosts,
                "max_idle_s": cfg.max_seconds,
                "stations_total": stations,
                "station_prefix": prefix,
                "password": password,
                "unknown_tag_share": cfg.unknown_tag_share,
            }
            proc = ctx.Process(target=worker_main, args=(cmd_r, res_w, wcfg), daemon=True)
            proc.start()
            cmd_r.close()
            res_w.close()
            self.cmd_conns.append(cmd_w)
            self.conns.append(res_r)
            self.procs.append(proc)
        hello = self.collect(60.0)
        self.loop_name = hello[0].get("loop", "?")
        self.pids = [h["pid"] for h in hello]

    def send(self, cmd: dict[str, Any]) -> None:
        for c in self.cmd_conns:
            c.send(cmd)

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        out = []
        for c in self.conns:
            if not c.poll(max(0.0, deadline - time.monotonic())):
                raise BenchError(f"load generator worker did not answer within {timeout:.0f}s")
            r = c.recv()
            if "error" in r:
                raise BenchError(f"load generator worker failed: {r['error']}")
            out.append(r)
        return out

    def command(self, cmd: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        self.send(cmd)
        return self.collect(timeout)

    def cpu_seconds(self) -> float:
        return sum(procstats.cpu_seconds(p) for p in self.pids)

    def close(self) -> None:
        try:
            self.send({"cmd": "close"})
            self.collect(15.0)
        except (BenchError, OSError, EOFError):
            pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(2)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_connect(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "connect_lat": array("d"),
        "boot_lat": array("d"),
        "connect_errors": {},
        "http_statuses": {},
    }
    for r in results:
        for k, v in r.items():
            if k in ("connect_lat", "boot_lat"):
                merged[k].extend(v)
            elif k in ("connect_errors", "http_statuses"):
                for e, n in v.items():
                    merged[k][e] = merged[k].get(e, 0) + n
            elif k == "last_accept_at":
                merged[k] = max(merged.get(k, 0.0), v)
            elif isinstance(v, int | float):
                merged[k] = merged.get(k, 0) + v
    return merged


def connect_summary(m: dict[str, Any], stations: int) -> dict[str, Any]:
    return {
        "stations": stations,
        "connected": m["connected"],
        "connect_failed": m["connect_failed"],
        "connect_errors": m["connect_errors"],
        "http_statuses": m.get("http_statuses", {}),
        "boot_wrong": m.get("boot_wrong", 0),
        "accepted": m["accepted"],
        "not_accepted": m["not_accepted"],
        "boot_timeouts": m["boot_timeouts"],
        "boot_errors": m["boot_errors"],
        "boot_attempts": m["boot_attempts"],
        "subprotocol_mismatch": m["subprotocol_mismatch"],
        "connect_latency": summarize_ms(m["connect_lat"]),
        "boot_latency": summarize_ms(m["boot_lat"]),
    }


# ---------------------------------------------------------------------- HTTP probe


class Probe(threading.Thread):
    """Polls an HTTP URL (loopback only) and records each answer's latency."""

    def __init__(self, url: str, interval: float, max_seconds: float) -> None:
        super().__init__(daemon=True)
        check_loopback(url)
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.url = url
        self.interval = interval
        self.max_seconds = max_seconds
        self.lat = array("d")
        self.errors = 0
        self.statuses: dict[int, int] = {}
        self._stop_evt = threading.Event()

    def run(self) -> None:
        end = time.monotonic() + self.max_seconds
        while not self._stop_evt.is_set() and time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                conn.request("GET", self.path)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                self.lat.append(time.perf_counter() - t0)
                self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                if resp.status >= 400:
                    self.errors += 1
            except OSError:
                self.errors += 1
            self._stop_evt.wait(self.interval)

    def stop(self) -> dict[str, Any]:
        self._stop_evt.set()
        self.join(15)
        return {
            "url": self.url,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "latency": summarize_ms(self.lat),
        }


# ---------------------------------------------------------------------- scenarios


def run_hold(cfg: BenchConfig, target: ServerTarget, server: RunningServer) -> dict[str, Any]:
    n = cfg.hold_stations
    with WorkerPool(cfg, target.ws_base, n) as pool:
        time.sleep(1.0)
        rss_idle = procstats.rss_kib(server.pid)
        cpu0 = procstats.cpu_seconds(server.pid)
        t0 = time.monotonic()
        conn = merge_connect(
            pool.command(
                {"cmd": "connect", "concurrency": cfg.connect_concurrency, "boot": True},
                cfg.timeout * 4 + n / 50,
            )
        )
        connect_s = time.monotonic() - t0
        connect_cpu = procstats.cpu_seconds(server.pid) - cpu0
        time.sleep(2.0)
        rss_connected = procstats.rss_kib(server.pid)
        # CPU at rest: the stations only send their heartbeats during the window.
        attempts = 0
        cpu: dict[str, float] = {}
        idle: list[dict[str, Any]] = []
        for attempt in range(cfg.noise_retries + 1):
            attempts = attempt + 1
            pool.send(
                {"cmd": "idle", "duration": cfg.hold_window, "interval": cfg.heartbeat_interval}
            )
            win = procstats.CpuWindow(server.pid, pool.pids)
            time.sleep(cfg.hold_window)
            this_cpu = win.stop()
            this_idle = pool.collect(cfg.timeout + 30)
            if not cpu or this_cpu["other_cpu_pct"] < cpu["other_cpu_pct"]:
                cpu, idle = this_cpu, this_idle  # keep the window least disturbed
            if this_cpu["other_cpu_pct"] <= cfg.max_noise_pct:
                break
            log(cfg, f"{target.name}: hold window disturbed by other processes, repeating")
        rss_after = procstats.rss_kib(server.pid)
        gen_loop = pool.loop_name
    hb = array("d")
    for r in idle:
        hb.extend(r["heartbeat_lat"])
    connected = conn["connected"]
    per_conn = (rss_connected - rss_idle) / connected if connected else None
    return {
        **connect_summary(conn, n),
        "generator_loop": gen_loop,
        "connect_phase_s": round(connect_s, 3),
        "connect_phase_server_cpu_s": round(connect_cpu, 3),
        "rss_idle_kib": rss_idle,
        "rss_connected_kib": rss_connected,
        "rss_after_window_kib": rss_after,
        "rss_per_connection_kib": None if per_conn is None else round(per_conn, 2),
        "window_s": cpu["window_s"],
        "heartbeat_interval_s": cfg.heartbeat_interval,
        "server_cpu_pct_at_rest": cpu["server_cpu_pct"],
        "generator_cpu_pct": cpu["generator_cpu_pct"],
        "other_cpu_pct": cpu["other_cpu_pct"],
        "window_attempts": attempts,
        "heartbeats_ok": sum(r["ok"] for r in idle),
        "heartbeats_per_s": round(sum(r["ok"] for r in idle) / max(cpu["window_s"], 1e-9), 1),
        "heartbeat_errors": sum(r["errors"] for r in idle),
        "heartbeat_timeouts": sum(r["timeouts"] for r in idle),
        "heartbeat_latency": summarize_ms(hb),
    }


def _window(server: RunningServer, pool: WorkerPool, target: ServerTarget) -> procstats.CpuWindow:
    return procstats.CpuWindow(
        server.pid,
        pool.pids,
        db=target.db_name is not None,
        database=target.db_name,
        services=target.service_processes,
    )


def _storm_prefix() -> str:
    """A fresh station-id prefix: stations the target has never seen (auto-registration)."""
    n = int(time.time() * 10) % 36**4
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    tag = "".join(digits[(n // 36**k) % 36] for k in range(3, -1, -1))
    return "N" + tag


def run_storm(
    cfg: BenchConfig, target: ServerTarget, server: RunningServer, kind: str = "new"
) -> dict[str, Any]:
    """N stations connect at once and boot.

    ``kind``: ``new`` (stations the server has never seen: auto-registration), ``known``
    (registered beforehand) or ``password`` (registered with a password, security profile 1:
    they connect once, drop their connections together and reconnect at once; the reconnect is
    what is measured).
    """
    n = cfg.password_stations if kind == "password" else cfg.storm_stations
    password = "bench-password-0123" if kind == "password" else None
    prefix = {"new": _storm_prefix(), "known": "KNOWN", "password": "PASSW"}[kind]
    if kind != "new":
        args = ["--stations", str(n), "--prefix", prefix]
        run_step(
            target, "watthub.bench.prepare", *args, *(["--password", password] if password else [])
        )
    probe_url = cfg.probe_url or target.probe_url
    extra: dict[str, Any] = {"kind": kind, "station_prefix": prefix}
    with WorkerPool(cfg, target.ws_base, n, prefix=prefix, password=password) as pool:
        if kind == "password":
            # First contact (not measured): every station connects once, which a server may use
            # to remember verified credentials; then all connections drop together.
            t0 = time.monotonic()
            # Cold: one scrypt derivation per station (~50-200 ms each, two at a time on two
            # cores), answered 503 + Retry-After while saturated: allow time for all of them.
            first_deadline = max(cfg.storm_deadline, n * 0.25)
            first = merge_connect(
                pool.command(
                    {
                        "cmd": "connect",
                        "concurrency": cfg.connect_concurrency,
                        "boot": True,
                        "boot_deadline_s": first_deadline,
                    },
                    first_deadline + cfg.timeout * 4,
                )
            )
            extra["first_connect_s"] = round(time.monotonic() - t0, 3)
            extra["first_connect_accepted"] = first["accepted"]
            extra["first_connect_failed"] = first["connect_failed"]
            pool.command({"cmd": "disconnect"}, 60.0)
            time.sleep(1.0)
        time.sleep(0.5)
        rss0 = procstats.rss_kib(server.pid)
        probe = Probe(probe_url, cfg.probe_interval, cfg.storm_deadline + 30) if probe_url else None
        if probe:
            probe.start()
        start_at = time.monotonic() + 0.5
        win = _window(server, pool, target)
        pool.send(
            {
                "cmd": "connect",
                "start_at": start_at,
                "concurrency": 0,
                "boot": True,
                "boot_deadline_s": cfg.storm_deadline,
            }
        )
        results = pool.collect(cfg.storm_deadline + cfg.timeout * 2 + 30)
        done = time.monotonic()
        cpu = win.stop()
        probe_res = probe.stop() if probe else None
        rss1 = procstats.rss_kib(server.pid)
        gen_loop = pool.loop_name
    m = merge_connect(results)
    all_ok = m["accepted"] == n
    return {
        **connect_summary(m, n),
        **extra,
        "generator_loop": gen_loop,
        "all_accepted": all_ok,
        "time_to_all_accepted_s": round(m["last_accept_at"] - start_at, 3) if all_ok else None,
        "storm_wall_s": round(done - start_at, 3),
        "slowest_boot_ms": summarize_ms(m["boot_lat"])["max_ms"],
        "timeouts": m["boot_timeouts"],
        "server_cpu_s": cpu["server_cpu_s"],
        "db_cpu_s": cpu["db_cpu_s"],
        "generator_cpu_s": cpu["generator_cpu_s"],
        "other_cpu_pct": cpu["other_cpu_pct"],
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "probe": probe_res,
    }


class _MixRun:
    """One mix step at a time against a connected pool; keeps every step it ran."""

    def __init__(
        self,
        cfg: BenchConfig,
        target: ServerTarget,
        server: RunningServer,
        pool: WorkerPool,
        budget_end: float,
    ) -> None:
        self.cfg, self.target, self.server, self.pool = cfg, target, server, pool
        self.budget_end = budget_end
        self.steps: list[dict[str, Any]] = []
        self.retries = 0

    def step(self, offered: float, seconds: float, phase: str) -> dict[str, Any] | None:
        """Run one step (repeated when other processes disturbed it); None when out of time."""
        cfg = self.cfg
        attempts: list[dict[str, Any]] = []
        for attempt in range(cfg.noise_retries + 1):
            if time.monotonic() + seconds + 5 > self.budget_end:
                log(cfg, f"{self.target.name}: mix stopped, time budget reached")
                break
            st = _run_mix_step(cfg, self.target, self.pool, self.server, offered, seconds)
            st["phase"] = phase
            st["attempt"] = attempt + 1
            st["disturbed"] = st["other_cpu_pct"] > cfg.max_noise_pct
            verdict = "ok" if st["sustained"] else "limit: " + ",".join(st["limit"])
            log(
                cfg,
                f"{self.target.name}: {phase:7s} offered {offered:8.0f}/s "
                f"achieved {st['achieved_msgs_per_s']:8.0f}/s p99 {st['all']['p99_ms']} ms "
                f"server {st['server_cpu_us_per_msg']} us/msg db {st['db_cpu_us_per_msg']} us/msg "
                f"gen {st['generator_cpu_us_per_msg']} us/msg other {st['other_cpu_pct']}% "
                f"-> {verdict}{' (disturbed, repeating)' if st['disturbed'] else ''}",
            )
            attempts.append(st)
            if not st["disturbed"] or attempt == cfg.noise_retries:
                break
            self.retries += 1
            time.sleep(2.0)
        if not attempts:
            return None
        # The least disturbed attempt (other processes' CPU; the database's own CPU is part of
        # the target and does not count as disturbance). Every attempt is reported.
        best = min(attempts, key=lambda a: a["other_cpu_pct"])
        best["attempts"] = [
            {
                k: a[k]
                for k in (
                    "achieved_msgs_per_s",
                    "sustained",
                    "other_cpu_pct",
                    "server_cpu_us_per_msg",
                    "db_cpu_us_per_msg",
                )
            }
            for a in attempts
        ]
        self.steps.append(best)
        time.sleep(0.5)
        return best


def run_mix(
    cfg: BenchConfig, target: ServerTarget, server: RunningServer, budget_end: float
) -> dict[str, Any]:
    """Find the highest sustained rate: a coarse ladder of short probe steps (×``mix_factor``),
    ``mix_bisect`` bisections between the last sustained and the first failed rate, then
    ``mix_repeats`` full steps at the rate found (the median is reported), and one step at half
    of it for the latency table."""
    n = cfg.mix_stations
    with WorkerPool(cfg, target.ws_base, n) as pool:
        conn = merge_connect(
            pool.command(
                {"cmd": "connect", "concurrency": cfg.connect_concurrency, "boot": True},
                cfg.timeout * 4 + n / 50,
            )
        )
        if conn["accepted"] != n:
            raise BenchError(f"{target.name}: mix set-up: only {conn['accepted']}/{n} booted")
        warm = pool.command(
            {"cmd": "warmup", "concurrency": cfg.connect_concurrency}, cfg.timeout * 4 + n / 50
        )
        warm_errors = sum(w["errors"] for w in warm)
        if warm_errors:
            raise BenchError(
                f"{target.name}: mix set-up: {warm_errors} warm-up StartTransactions failed"
            )
        time.sleep(0.5)
        run = _MixRun(cfg, target, server, pool, budget_end)
        lo: float | None = None
        hi: float | None = None
        for k in range(cfg.mix_max_steps):
            offered = _step_offered(cfg, k)
            st = run.step(offered, cfg.mix_probe_seconds, "ladder")
            if st is None:
                break
            if st["sustained"]:
                lo = offered
            else:
                hi = offered
                break
        if lo is not None and hi is not None:
            for _ in range(cfg.mix_bisect):
                mid = (lo * hi) ** 0.5
                st = run.step(mid, cfg.mix_step_seconds, "bisect")
                if st is None:
                    break
                if st["sustained"]:
                    lo = mid
                else:
                    hi = mid
        repeats: list[dict[str, Any]] = []
        if lo is not None:
            for _ in range(cfg.mix_repeats):
                st = run.step(lo, cfg.mix_step_seconds, "repeat")
                if st is None:
                    break
                repeats.append(st)
        at_max: dict[str, Any] | None = None
        max_rate: float | None = None
        if repeats:
            ordered = sorted(repeats, key=lambda r: r["achieved_msgs_per_s"])
            at_max = ordered[len(ordered) // 2]
            max_rate = at_max["achieved_msgs_per_s"]
        half = None
        if max_rate:
            half = run.step(max_rate / 2, cfg.mix_step_seconds, "half")
        finish = pool.command({"cmd": "finish", "concurrency": cfg.connect_concurrency}, 120)
        gen_loop = pool.loop_name
    return {
        **connect_summary(conn, n),
        "generator_loop": gen_loop,
        "meter_values_per_transaction": cfg.meter_per_tx,
        "unknown_tag_share": cfg.unknown_tag_share,
        "warmup_errors": warm_errors,
        "step_seconds": cfg.mix_step_seconds,
        "max_p99_ms": cfg.mix_max_p99_ms,
        "steps": run.steps,
        "noise_retries_used": run.retries,
        "repeats": [r["achieved_msgs_per_s"] for r in repeats],
        "repeats_sustained": sum(1 for r in repeats if r["sustained"]),
        "max_sustained_msgs_per_s": max_rate,
        "bracket": {"sustained": lo, "failed": hi},
        "at_max": at_max,
        "at_half": half,
        "transactions_stopped_at_end": sum(f["stopped"] for f in finish),
    }


def _run_mix_step(
    cfg: BenchConfig,
    target: ServerTarget,
    pool: WorkerPool,
    server: RunningServer,
    offered: float,
    seconds: float,
) -> dict[str, Any]:
    n = cfg.mix_stations
    start_at = time.monotonic() + 0.3
    pool.send(
        {
            "cmd": "mix",
            "rate_per_station": offered / n,
            "start_at": start_at,
            "duration": seconds,
        }
    )
    time.sleep(max(0.0, start_at - time.monotonic()))
    win = _window(server, pool, target)
    time.sleep(max(0.0, start_at + seconds - time.monotonic()))
    cpu = win.stop()
    res = pool.collect(cfg.timeout + 30)
    step = _mix_step(cfg, offered, seconds, res)
    step.update({key: v for key, v in cpu.items() if key != "window_s"})
    done = max(step["answered_in_window"], 1)
    for who in ("server", "db", "generator"):
        step[f"{who}_cpu_us_per_msg"] = round(1e6 * cpu[f"{who}_cpu_s"] / done, 1)
    return step


def _mix_step(
    cfg: BenchConfig, offered: float, seconds: float, res: list[dict[str, Any]]
) -> dict[str, Any]:
    actions = [a for a, _ in F.MIX_CYCLE]
    per_action: dict[str, Any] = {}
    all_lat = array("d")
    totals = {"ok": 0, "errors": 0, "wrong": 0, "timeouts": 0}
    for a in actions:
        lat = array("d")
        ok = err = wrong = to = 0
        for r in res:
            lat.extend(r["lat"][a])
            ok += r["ok"][a]
            err += r["errors"][a]
            wrong += r["wrong"][a]
            to += r["timeouts"][a]
        all_lat.extend(lat)
        per_action[a] = {
            **summarize_ms(lat),
            "ok": ok,
            "errors": err,
            "wrong": wrong,
            "timeouts": to,
        }
        totals["ok"] += ok
        totals["errors"] += err
        totals["wrong"] += wrong
        totals["timeouts"] += to
    done = sum(r["done_in_window"] for r in res)
    achieved = done / seconds
    summary = summarize_ms(all_lat)
    reasons = []
    if totals["errors"]:
        reasons.append("errors")
    if totals["timeouts"]:
        reasons.append("timeouts")
    if achieved < cfg.mix_min_ratio * offered:
        reasons.append("throughput")
    if summary["p99_ms"] is None or summary["p99_ms"] > cfg.mix_max_p99_ms:
        reasons.append("p99")
    return {
        "offered_msgs_per_s": round(offered, 1),
        "achieved_msgs_per_s": round(achieved, 1),
        "seconds": seconds,
        "answered_in_window": done,
        "sent": sum(r["sent"] for r in res),
        **totals,
        "wrong_samples": [w for r in res for w in r["wrong_samples"]][:5],
        "disconnected": sum(r["disconnected"] for r in res),
        "late_sends": sum(r["late"] for r in res),
        "max_schedule_lag_ms": round(1000 * max(r["max_lag_s"] for r in res), 1),
        "unexpected_frames": sum(r["unexpected"] for r in res),
        "server_calls_answered": sum(r["server_calls"] for r in res),
        "all": summary,
        "actions": per_action,
        "sustained": not reasons,
        "limit": reasons,
    }


def _step_offered(cfg: BenchConfig, k: int) -> float:
    return cfg.mix_start_rate * (cfg.mix_factor**k)


# ---------------------------------------------------------------------- driver


def machine_info() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    try:
        import uvloop

        uvloop_version: str | None = uvloop.__version__
    except ImportError:
        uvloop_version = None
    import websockets

    rev = None
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=str(Path(__file__).parent),
                check=False,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "uvloop": uvloop_version,
        "websockets": websockets.__version__,
        "git_rev": rev,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_benchmark(cfg: BenchConfig) -> dict[str, Any]:
    budget_end = time.monotonic() + cfg.max_seconds
    raise_nofile_limit()
    base = Path(cfg.workdir) if cfg.workdir else Path(tempfile.mkdtemp(prefix="watthub-bench-"))
    results: dict[str, Any] = {
        "meta": {**machine_info(), "config": asdict(cfg), "workdir": str(base)},
        "targets": {},
    }
    for name in cfg.targets:
        if name not in TARGETS:
            raise BenchError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
        workdir = base / name
        workdir.mkdir(parents=True, exist_ok=True)
        target = TARGETS[name](
            workdir,
            server_loop=cfg.server_loop,
            db_url=cfg.db_url,
            pg_url=cfg.pg_url,
            extra_env=cfg.watthub_env,
        )
        tres: dict[str, Any] = {"description": target.description, "info": target.info}
        results["targets"][name] = tres
        if target.prepare is not None:
            log(cfg, f"{name}: preparing")
            try:
                target.prepare(target)
            except BenchError as exc:
                log(cfg, f"{name}: set-up failed: {exc}")
                tres["setup"] = {"error": str(exc)}
                continue
        for scenario in cfg.scenarios:
            if scenario in WATTHUB_ONLY and not target.is_watthub:
                continue
            if time.monotonic() > budget_end:
                tres[scenario] = {"error": "time budget exhausted before start"}
                continue
            log(cfg, f"{name}: {scenario} ...")
            try:
                with target.running() as server:
                    if scenario == "hold":
                        tres[scenario] = run_hold(cfg, target, server)
                    elif scenario == "storm":
                        tres[scenario] = run_storm(cfg, target, server, "new")
                    elif scenario == "storm-known":
                        tres[scenario] = run_storm(cfg, target, server, "known")
                    elif scenario == "storm-password":
                        tres[scenario] = run_storm(cfg, target, server, "password")
                    elif scenario == "mix":
                        tres[scenario] = run_mix(cfg, target, server, budget_end)
                    else:
                        raise BenchError(f"unknown scenario {scenario!r}")
                    if server.proc is not None and server.proc.poll() is not None:
                        tres[scenario]["server_exited"] = server.proc.returncode
            except BenchError as exc:
                log(cfg, f"{name}: {scenario} failed: {exc}")
                tres[scenario] = {"error": str(exc)}
            time.sleep(0.5)
        if target.cleanup is not None:
            try:
                target.cleanup(target)
            except BenchError as exc:
                log(cfg, f"{name}: clean-up failed: {exc}")
    return results
