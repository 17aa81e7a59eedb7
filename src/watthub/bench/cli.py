"""Command line: ``python -m watthub.bench {run,plot,table} ...`` (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .runner import SCENARIOS, BenchConfig, run_benchmark
from .targets import TARGETS, BenchError, watthub_available


def _csv(choices: tuple[str, ...] | list[str]) -> Any:
    def parse(value: str) -> list[str]:
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        return items

    return parse


def build_parser() -> argparse.ArgumentParser:
    d = BenchConfig()
    p = argparse.ArgumentParser(
        prog="python -m watthub.bench",
        description="Reproducible OCPP 1.6J load benchmark (loopback only).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="start the targets and run the scenarios against them")
    r.add_argument(
        "--targets",
        type=_csv(list(TARGETS)),
        default=None,
        help="comma list of raw-ws,raw-picows,ocpp-lib,ocpp-lib-sync,watthub,watthub-pg (default: the "
        "baselines, plus watthub when watthub.server can be imported)",
    )
    r.add_argument(
        "--scenarios",
        type=_csv(SCENARIOS),
        default=list(SCENARIOS),
        help="comma list of hold,storm,storm-known,storm-password,mix (default: all; "
        "storm = stations never seen, auto-registered)",
    )
    r.add_argument(
        "-n",
        "--stations",
        type=int,
        default=None,
        help="stations for every scenario (overrides the three below)",
    )
    r.add_argument("--hold-stations", type=int, default=d.hold_stations)
    r.add_argument("--storm-stations", type=int, default=d.storm_stations)
    r.add_argument("--mix-stations", type=int, default=d.mix_stations)
    r.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        help=f"load generator processes (default cores-1 = {d.workers})",
    )
    r.add_argument("--no-uvloop", action="store_true", help="generator on stdlib asyncio")
    r.add_argument(
        "--server-loop",
        choices=["uvloop", "asyncio"],
        default=d.server_loop,
        help="event loop of the baseline servers (default uvloop)",
    )
    r.add_argument(
        "--compression",
        choices=["none", "deflate"],
        default=d.compression,
        help="permessage-deflate offered by the stations (default none)",
    )
    r.add_argument(
        "--timeout",
        type=float,
        default=d.timeout,
        help="seconds to wait for a CALLRESULT or a connection (default 30)",
    )
    r.add_argument(
        "--connect-concurrency",
        type=int,
        default=d.connect_concurrency,
        help="connections opened at once per worker in hold/mix (storm: all at once)",
    )
    r.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval)
    r.add_argument(
        "--hold-window",
        type=float,
        default=d.hold_window,
        help="seconds over which CPU at rest is measured",
    )
    r.add_argument(
        "--storm-deadline",
        type=float,
        default=d.storm_deadline,
        help="give up on stations not Accepted after this many seconds",
    )
    r.add_argument(
        "--probe-url",
        default=None,
        help="HTTP URL (loopback) polled during the storm; default: the target's own health URL",
    )
    r.add_argument("--probe-interval", type=float, default=d.probe_interval)
    r.add_argument(
        "--password-stations",
        type=int,
        default=d.password_stations,
        help="storm-password: security-profile-1 stations that reconnect at once",
    )
    r.add_argument(
        "--mix-start-rate",
        type=float,
        default=d.mix_start_rate,
        help="offered msg/s (all stations together) of the first mix step",
    )
    r.add_argument(
        "--mix-factor",
        type=float,
        default=d.mix_factor,
        help="offered rate multiplier per coarse ladder step",
    )
    r.add_argument("--mix-max-steps", type=int, default=d.mix_max_steps)
    r.add_argument(
        "--mix-probe-seconds",
        type=float,
        default=d.mix_probe_seconds,
        help="length of a coarse ladder step",
    )
    r.add_argument(
        "--mix-bisect",
        type=int,
        default=d.mix_bisect,
        help="bisections between the last sustained and the first failed ladder rate",
    )
    r.add_argument(
        "--mix-repeats",
        type=int,
        default=d.mix_repeats,
        help="full steps run at the rate found; the median is the reported maximum",
    )
    r.add_argument(
        "--mix-step-seconds",
        type=float,
        default=d.mix_step_seconds,
        help="length of the bisection, repeat and half-load steps",
    )
    r.add_argument(
        "--unknown-tag-share",
        type=float,
        default=d.unknown_tag_share,
        help="share of Authorize calls presenting a tag no target knows (must be Invalid)",
    )
    r.add_argument(
        "--mix-max-p99-ms",
        type=float,
        default=d.mix_max_p99_ms,
        help="a step whose p99 exceeds this is not sustained",
    )
    r.add_argument(
        "--max-noise-pct",
        type=float,
        default=d.max_noise_pct,
        help="repeat a mix step / hold window when other processes used more CPU than this "
        "(%% of one core)",
    )
    r.add_argument("--noise-retries", type=int, default=d.noise_retries)
    r.add_argument(
        "--meter-per-tx",
        type=int,
        default=d.meter_per_tx,
        help="MeterValues per transaction in the mix cycle",
    )
    r.add_argument(
        "--db-url",
        default=None,
        help="WATTHUB_DATABASE_URL for the watthub target (default: SQLite in workdir)",
    )
    r.add_argument(
        "--pg-url",
        default=None,
        help="database of the watthub-pg target, dropped and re-created "
        "(default: a database watthub_bench_<pid> on 127.0.0.1:5432, dropped after the run)",
    )
    r.add_argument(
        "--watthub-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the watthub target, e.g. WATTHUB_MESSAGE_LOG=false (repeatable)",
    )
    r.add_argument("--workdir", default=None, help="server logs and databases (default: temp dir)")
    r.add_argument(
        "--max-seconds",
        type=float,
        default=d.max_seconds,
        help="overall time budget; scenarios not started by then are skipped",
    )
    r.add_argument(
        "--out", default=None, help="JSON results file (default bench-results/<UTC time>.json)"
    )
    r.add_argument("--quiet", action="store_true")

    pl = sub.add_parser("plot", help="draw p99 latency against throughput from a results file")
    pl.add_argument("results")
    pl.add_argument("--out", default="docs/benchmarks-latency.png")

    t = sub.add_parser("table", help="print the tables of a results file again")
    t.add_argument("results")
    return p


def _config(args: argparse.Namespace) -> BenchConfig:
    targets = args.targets
    if targets is None:
        targets = ["raw-ws", "ocpp-lib"] + (["watthub"] if watthub_available() else [])
    hold = storm = mix = None
    if args.stations is not None:
        hold = storm = mix = args.stations
    return BenchConfig(
        targets=targets,
        scenarios=args.scenarios,
        hold_stations=hold or args.hold_stations,
        storm_stations=storm or args.storm_stations,
        mix_stations=mix or args.mix_stations,
        workers=args.workers,
        uvloop=not args.no_uvloop,
        server_loop=args.server_loop,
        compression=args.compression,
        timeout=args.timeout,
        connect_concurrency=args.connect_concurrency,
        heartbeat_interval=args.heartbeat_interval,
        hold_window=args.hold_window,
        storm_deadline=args.storm_deadline,
        mix_start_rate=args.mix_start_rate,
        mix_factor=args.mix_factor,
        mix_max_steps=args.mix_max_steps,
        mix_probe_seconds=args.mix_probe_seconds,
        mix_bisect=args.mix_bisect,
        mix_repeats=args.mix_repeats,
        unknown_tag_share=args.unknown_tag_share,
        password_stations=args.password_stations,
        pg_url=args.pg_url,
        mix_step_seconds=args.mix_step_seconds,
        mix_max_p99_ms=args.mix_max_p99_ms,
        meter_per_tx=args.meter_per_tx,
        max_noise_pct=args.max_noise_pct,
        noise_retries=args.noise_retries,
        probe_url=args.probe_url,
        probe_interval=args.probe_interval,
        db_url=args.db_url,
        watthub_env=dict(kv.split("=", 1) for kv in args.watthub_env if "=" in kv),
        workdir=args.workdir,
        max_seconds=args.max_seconds,
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; a ``watthub bench`` CLI subcommand can call ``main(argv)``."""
    from . import report

    args = build_parser().parse_args(argv)
    if args.command == "plot":
        results = json.loads(Path(args.results).read_text())
        try:
            out = report.plot(results, Path(args.out))
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(out)
        return 0
    if args.command == "table":
        print(report.render(json.loads(Path(args.results).read_text())))
        return 0

    cfg = _config(args)
    try:
        results = run_benchmark(cfg)
    except (BenchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or f"bench-results/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(report.render(results))
    print(f"\nresults: {out}\nserver logs: {results['meta']['workdir']}")
    failed = any(
        isinstance(r, dict) and "error" in r
        for t in results["targets"].values()
        for r in t.values()
    )
    return 1 if failed else 0
