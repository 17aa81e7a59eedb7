"""Result tables (Markdown, printed to stdout) and the latency-vs-throughput plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import frames as F

#: Ratio columns, shown when both targets are in the results: (numerator, denominator).
RATIO_PAIRS = (
    ("watthub", "ocpp-lib"),
    ("watthub", "ocpp-lib-sync"),
    ("watthub", "raw-ws"),
    ("watthub", "raw-picows"),
)
ACTIONS = list(dict.fromkeys(a for a, _ in F.MIX_CYCLE))


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v) or "–"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) or "–"
    return str(v)


def common_mix_step(results: dict[str, Any]) -> int | None:
    """Index of the highest mix step that every target sustained (same offered rate for all)."""
    best: int | None = None
    targets = [t for t in results["targets"].values() if _get(t, "mix", "steps")]
    if not targets:
        return None
    k = 0
    while all(k < len(t["mix"]["steps"]) and t["mix"]["steps"][k]["sustained"] for t in targets):
        best = k
        k += 1
    return best


def rows_for(results: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(label, {target: value}, ratio_makes_sense) rows of the summary table."""
    targets = results["targets"]
    rows: list[tuple[str, dict[str, Any], bool]] = []

    def add(label: str, path: tuple[str, ...], ratio: bool = True) -> None:
        vals = {name: _get(t, *path) for name, t in targets.items()}
        if any(v is not None for v in vals.values()):
            rows.append((label, vals, ratio))

    n = {name: _get(t, "hold", "stations") for name, t in targets.items()}
    if any(n.values()):
        add("hold: stations connected + accepted", ("hold", "accepted"), False)
        add("hold: server RSS idle (KiB)", ("hold", "rss_idle_kib"))
        add("hold: server RSS per connection (KiB)", ("hold", "rss_per_connection_kib"))
        add("hold: server CPU % at rest", ("hold", "server_cpu_pct_at_rest"))
        add("hold: Heartbeats/s during the window", ("hold", "heartbeats_per_s"), False)
        add("hold: other processes CPU % (noise)", ("hold", "other_cpu_pct"), False)
        add("hold: connect+boot phase (s)", ("hold", "connect_phase_s"))
        add("hold: Heartbeat p99 (ms)", ("hold", "heartbeat_latency", "p99_ms"))
    for sc, title in (
        ("storm", "storm (new, auto-registered)"),
        ("storm-known", "storm (known stations)"),
        ("storm-password", "reconnect (password stations)"),
    ):
        if not any(_get(t, sc) for t in targets.values()):
            continue
        add(f"{title}: stations", (sc, "stations"), False)
        add(f"{title}: accepted", (sc, "accepted"), False)
        add(f"{title}: time until all Accepted (s)", (sc, "time_to_all_accepted_s"))
        add(f"{title}: slowest BootNotification (ms)", (sc, "slowest_boot_ms"))
        add(f"{title}: BootNotification p99 (ms)", (sc, "boot_latency", "p99_ms"))
        add(f"{title}: timeouts", (sc, "timeouts"), False)
        add(f"{title}: connect failures", (sc, "connect_failed"), False)
        add(f"{title}: HTTP refusals (status: count)", (sc, "http_statuses"), False)
        add(f"{title}: boot attempts (Pending retried)", (sc, "boot_attempts"), False)
        add(f"{title}: server CPU (s)", (sc, "server_cpu_s"))
        add(f"{title}: database CPU (s)", (sc, "db_cpu_s"))
        add(f"{title}: HTTP probe p99 (ms)", (sc, "probe", "latency", "p99_ms"))
        add(f"{title}: HTTP probe errors", (sc, "probe", "errors"), False)
    if any(_get(t, "mix") for t in targets.values()):
        add("mix: stations", ("mix", "stations"), False)
        add("mix: max sustained msg/s (median of repeats)", ("mix", "max_sustained_msgs_per_s"))
        add("mix: repeats at the max (msg/s)", ("mix", "repeats"), False)
        add("mix: repeats sustained", ("mix", "repeats_sustained"), False)
        add("mix: noise retries", ("mix", "noise_retries_used"), False)
        add("mix @ max: server CPU µs/msg", ("mix", "at_max", "server_cpu_us_per_msg"))
        add("mix @ max: database CPU µs/msg", ("mix", "at_max", "db_cpu_us_per_msg"))
        add("mix @ max: generator CPU µs/msg", ("mix", "at_max", "generator_cpu_us_per_msg"), False)
        add("mix @ max: p99 (ms)", ("mix", "at_max", "all", "p99_ms"))
        add("mix @ half max: offered msg/s", ("mix", "at_half", "offered_msgs_per_s"))
        add("mix @ half max: server CPU µs/msg", ("mix", "at_half", "server_cpu_us_per_msg"))
        add("mix @ half max: database CPU µs/msg", ("mix", "at_half", "db_cpu_us_per_msg"))
        add("mix @ half max: all actions p99 (ms)", ("mix", "at_half", "all", "p99_ms"))
        for a in ACTIONS:
            add(f"mix @ half max: {a} p99 (ms)", ("mix", "at_half", "actions", a, "p99_ms"))
        add("mix @ half max: wrong answers", ("mix", "at_half", "wrong"), False)
    return rows


def summary_table(results: dict[str, Any]) -> str:
    names = list(results["targets"])
    pairs = [(a, b) for a, b in RATIO_PAIRS if a in names and b in names]
    header = ["metric", *names, *[f"{a}/{b}" for a, b in pairs]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, vals, ratio_ok in rows_for(results):
        section = label.endswith(":")
        cells = [label, *["" if section else _fmt(vals.get(n)) for n in names]]
        for a, b in pairs:
            va, vb = vals.get(a), vals.get(b)
            if ratio_ok and isinstance(va, int | float) and isinstance(vb, int | float) and vb:
                cells.append(f"{va / vb:.2f}×")
            else:
                cells.append("")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mix_detail_tables(results: dict[str, Any]) -> str:
    out: list[str] = []
    for name, t in results["targets"].items():
        steps = _get(t, "mix", "steps")
        if not steps:
            continue
        out.append(f"\n**{name}**: mix steps ({t['mix']['stations']} stations)\n")
        out.append(
            "| phase | offered msg/s | achieved msg/s | p50 ms | p99 ms | p99.9 ms | errors "
            "(wrong) | timeouts | server µs/msg | DB µs/msg | generator µs/msg | other CPU % "
            "| tries | result |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in steps:
            a = s["all"]
            out.append(
                f"| {s.get('phase', '')} | {_fmt(s['offered_msgs_per_s'])} "
                f"| {_fmt(s['achieved_msgs_per_s'])} "
                f"| {_fmt(a['p50_ms'])} | {_fmt(a['p99_ms'])} | {_fmt(a['p99_9_ms'])} "
                f"| {s['errors']} ({s.get('wrong', 0)}) | {s['timeouts']} "
                f"| {_fmt(s.get('server_cpu_us_per_msg'))} | {_fmt(s.get('db_cpu_us_per_msg'))} "
                f"| {_fmt(s.get('generator_cpu_us_per_msg'))} | {_fmt(s.get('other_cpu_pct'))} "
                f"| {len(s.get('attempts', [])) or 1} "
                f"| {'sustained' if s['sustained'] else 'limit: ' + ', '.join(s['limit'])} |"
            )
        for key, label in (("at_max", "its max"), ("at_half", "half its max")):
            best = t["mix"].get(key)
            if not best:
                continue
            out.append(
                f"\n{name} per action at {label} "
                f"({_fmt(best['achieved_msgs_per_s'])} msg/s achieved):\n"
            )
            out.append("| action | count | p50 ms | p99 ms | p99.9 ms | max ms | wrong |")
            out.append("|---|---|---|---|---|---|---|")
            for a in ACTIONS:
                s = best["actions"][a]
                out.append(
                    f"| {a} | {_fmt(s['count'])} | {_fmt(s['p50_ms'])} | {_fmt(s['p99_ms'])} "
                    f"| {_fmt(s['p99_9_ms'])} | {_fmt(s['max_ms'])} | {_fmt(s.get('wrong'))} |"
                )
    return "\n".join(out)


def errors_text(results: dict[str, Any]) -> str:
    out = []
    for name, t in results["targets"].items():
        for sc, r in t.items():
            if isinstance(r, dict) and "error" in r:
                out.append(f"- {name} {sc}: {r['error']}")
    return "\n".join(out)


def render(results: dict[str, Any]) -> str:
    m = results["meta"]
    head = (
        f"Python {m['python']} ({m['implementation']}), {m['cpus']} CPUs ({m['cpu']}), "
        f"{m['mem_gib']} GiB, {m['platform']}; websockets {m['websockets']}, uvloop {m['uvloop']}; "
        f"baseline servers on {m['config']['server_loop']}, generator on "
        f"{'uvloop' if m['config']['uvloop'] else 'asyncio'} with {m['config']['workers']} "
        f"worker process(es); git {m.get('git_rev')}; {m['date_utc']}"
    )
    parts = [head, "", summary_table(results), mix_detail_tables(results)]
    err = errors_text(results)
    if err:
        parts += ["", "Errors:", err]
    return "\n".join(parts)


def plot(results: dict[str, Any], out: Path) -> Path:
    """p99 (and p50) latency against achieved throughput, one line per target."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("plotting needs matplotlib: pip install matplotlib") from exc
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    drawn = 0
    for name, t in results["targets"].items():
        steps = _get(t, "mix", "steps") or []
        pts = [
            (s["achieved_msgs_per_s"], s["all"]["p99_ms"], s["all"]["p50_ms"])
            for s in steps
            if s["all"]["p99_ms"] is not None
        ]
        if not pts:
            continue
        xs, p99, p50 = zip(*pts, strict=True)
        (line,) = ax.plot(xs, p99, marker="o", label=f"{name} p99")
        ax.plot(
            xs,
            p50,
            marker=".",
            linestyle=":",
            color=line.get_color(),
            alpha=0.6,
            label=f"{name} p50",
        )
        drawn += 1
    if not drawn:
        raise RuntimeError("no mix results to plot")
    m = results["meta"]
    ax.set_xlabel("achieved throughput (OCPP messages/s, CALL + CALLRESULT; log scale)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(
        f"Mixed OCPP 1.6J load: latency vs throughput\n"
        f"{m['cpus']} CPUs, Python {m['python']}, generator on the same machine",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
