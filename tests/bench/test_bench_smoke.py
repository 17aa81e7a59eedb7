"""Smoke runs of the load benchmark: tiny station counts, a couple of seconds per scenario.

No timing thresholds: the assertions check that the machinery measured something real (all
stations accepted, no timeouts, messages counted, latencies present and positive).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import serve

from watthub.bench import frames as F
from watthub.bench import main
from watthub.bench.loadgen import Worker, check_loopback
from watthub.bench.report import render
from watthub.bench.runner import BenchConfig, run_benchmark
from watthub.bench.stats import percentile, summarize_ms
from watthub.bench.targets import watthub_available

SMALL = dict(
    scenarios=["hold", "storm", "mix"],
    hold_stations=12,
    storm_stations=20,
    mix_stations=10,
    workers=2,
    heartbeat_interval=1.0,
    hold_window=2.0,
    mix_start_rate=50.0,
    mix_factor=2.0,
    mix_max_steps=2,
    mix_probe_seconds=2.0,
    mix_bisect=1,
    mix_repeats=1,
    mix_step_seconds=2.0,
    mix_max_p99_ms=1000.0,  # a smoke run on a shared machine: check the plumbing, not the speed
    unknown_tag_share=0.2,
    timeout=20.0,
    max_seconds=300.0,
    noise_retries=0,  # no repeats of disturbed windows: the smoke run checks plumbing, not speed
    quiet=True,
)


def check_target(res: dict[str, Any], name: str) -> None:
    hold = res["hold"]
    assert "error" not in hold, hold
    assert hold["connected"] == hold["stations"] == 12
    assert hold["accepted"] == 12
    assert hold["boot_timeouts"] == 0 and hold["connect_failed"] == 0
    assert hold["subprotocol_mismatch"] == 0
    assert hold["rss_idle_kib"] > 0 and hold["rss_connected_kib"] > 0
    assert hold["rss_per_connection_kib"] is not None
    assert hold["server_cpu_pct_at_rest"] >= 0
    assert hold["heartbeats_ok"] > 0
    assert hold["heartbeat_errors"] == 0 and hold["heartbeat_timeouts"] == 0
    assert hold["heartbeat_latency"]["p99_ms"] > 0

    storm = res["storm"]
    assert "error" not in storm, storm
    assert storm["all_accepted"] is True
    assert storm["accepted"] == 20
    assert storm["timeouts"] == 0 and storm["connect_failed"] == 0 and storm["boot_errors"] == 0
    assert storm["time_to_all_accepted_s"] > 0
    assert storm["slowest_boot_ms"] > 0
    assert storm["boot_latency"]["count"] == 20
    probe = storm["probe"]
    assert probe is not None and probe["errors"] == 0, probe
    assert probe["latency"]["count"] > 0 and probe["latency"]["p99_ms"] > 0

    mix = res["mix"]
    assert "error" not in mix, mix
    assert mix["accepted"] == 10
    assert mix["steps"], mix
    step = mix["steps"][0]
    assert step["sent"] > 0 and step["ok"] > 0
    assert step["wrong"] == 0, step["wrong_samples"]
    # raw-picows answers ~100 smoke messages in ~3 ms of CPU, under /proc's 10 ms clock tick.
    assert step["server_cpu_us_per_msg"] > 0 or name == "raw-picows"
    assert step["achieved_msgs_per_s"] > 0
    assert step["errors"] == 0 and step["timeouts"] == 0 and step["disconnected"] == 0
    assert step["unexpected_frames"] == 0
    assert step["all"]["p50_ms"] > 0 and step["all"]["p99_ms"] >= step["all"]["p50_ms"]
    assert step["all"]["p99_9_ms"] >= step["all"]["p99_ms"]
    # In 2 s at 50 msg/s over 10 stations every station gets through its first actions at least.
    for action in ("StatusNotification", "Authorize", "StartTransaction", "MeterValues"):
        a = step["actions"][action]
        assert a["count"] > 0 and a["p99_ms"] > 0, (name, action, a)
    assert mix["max_sustained_msgs_per_s"] is None or mix["max_sustained_msgs_per_s"] > 0


@pytest.fixture(scope="module")
def baseline_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("bench")
    cfg = BenchConfig(targets=["raw-ws", "raw-picows", "ocpp-lib"], workdir=str(workdir), **SMALL)
    return run_benchmark(cfg)


@pytest.mark.timeout(300)
def test_raw_ws_smoke(baseline_results: dict[str, Any]) -> None:
    check_target(baseline_results["targets"]["raw-ws"], "raw-ws")


@pytest.mark.timeout(300)
def test_raw_picows_smoke(baseline_results: dict[str, Any]) -> None:
    check_target(baseline_results["targets"]["raw-picows"], "raw-picows")


@pytest.mark.timeout(300)
def test_ocpp_lib_smoke(baseline_results: dict[str, Any]) -> None:
    check_target(baseline_results["targets"]["ocpp-lib"], "ocpp-lib")


def test_mix_uses_transaction_ids(baseline_results: dict[str, Any]) -> None:
    """StopTransaction and MeterValues carried server-issued ids: the servers answered them."""
    for name in ("raw-ws", "raw-picows", "ocpp-lib"):
        step = baseline_results["targets"][name]["mix"]["steps"][-1]
        assert step["actions"]["StartTransaction"]["ok"] > 0, name


def test_report_and_json_roundtrip(baseline_results: dict[str, Any], tmp_path: Path) -> None:
    text = render(json.loads(json.dumps(baseline_results)))
    assert "| metric | raw-ws | raw-picows | ocpp-lib |" in text
    assert "server RSS per connection" in text and "max sustained msg/s" in text
    path = tmp_path / "r.json"
    path.write_text(json.dumps(baseline_results))
    assert main(["table", str(path)]) == 0
    if importlib.util.find_spec("matplotlib") is not None:
        png = tmp_path / "p.png"
        assert main(["plot", str(path), "--out", str(png)]) == 0
        assert png.stat().st_size > 1000


@pytest.mark.timeout(900)
@pytest.mark.skipif(
    not watthub_available(), reason="watthub.server cannot be imported (WattHub not merged yet)"
)
def test_watthub_smoke(tmp_path: Path) -> None:
    small = {**SMALL, "scenarios": ["hold", "storm", "storm-known", "storm-password", "mix"]}
    cfg = BenchConfig(targets=["watthub"], workdir=str(tmp_path), password_stations=8, **small)
    res = run_benchmark(cfg)
    check_target(res["targets"]["watthub"], "watthub")
    for scenario in ("storm-known", "storm-password"):
        storm = res["targets"]["watthub"][scenario]
        assert "error" not in storm, storm
        assert storm["all_accepted"] is True and storm["connect_failed"] == 0, storm
    assert res["targets"]["watthub"]["storm-password"]["first_connect_accepted"] == 8


def test_cli_run_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res.json"
    rc = main(
        [
            "run",
            "--targets", "raw-ws",
            "--scenarios", "storm",
            "-n", "5",
            "--workers", "1",
            "--quiet",
            "--workdir", str(tmp_path / "w"),
            "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["targets"]["raw-ws"]["storm"]["accepted"] == 5
    assert "time until all Accepted" in capsys.readouterr().out


# ---------------------------------------------------------------------- unit checks


def test_templates_render_valid_ocpp_frames() -> None:
    w = Worker({"url_base": "ws://127.0.0.1:1/", "indices": [3], "meter_per_tx": 2})
    st = w.stations[0]
    st.tx = 42
    seen = set()
    for action, arg in [*w.cycle, ("BootNotification", None)]:
        msg = orjson.loads(w.frame_for(st, action, arg))
        assert msg[0] == 2 and msg[1] == st.mid and msg[2] == action
        seen.add(action)
        if action == "MeterValues":
            svs = msg[3]["meterValue"][0]["sampledValue"]
            assert len(svs) == 9 and msg[3]["transactionId"] == 42
            assert {s["measurand"] for s in svs} == {
                "Energy.Active.Import.Register",
                "Power.Active.Import",
                "Current.Import",
                "Voltage",
                "SoC",
            }
        if action == "StopTransaction":
            assert msg[3]["transactionId"] == 42
    assert seen == {a for a, _ in F.MIX_CYCLE} | {"BootNotification"}
    assert [a for a, _ in w.cycle].count("MeterValues") == 2


def test_loopback_only() -> None:
    check_loopback("ws://127.0.0.1:9000/ocpp/")
    check_loopback("http://localhost:8000/api/v1/health")
    for url in ("ws://10.0.0.1:9000/", "http://example.org/health"):
        with pytest.raises(ValueError):
            check_loopback(url)


def test_percentiles() -> None:
    values = sorted(float(i) for i in range(1, 1001))
    assert percentile(values, 50) == 500.0
    assert percentile(values, 99) == 990.0
    assert percentile(values, 99.9) == 999.0
    assert percentile([], 50) is None
    s = summarize_ms([0.001, 0.002, 0.003])
    assert s["count"] == 3 and s["max_ms"] == 3.0 and s["p50_ms"] == 2.0


async def test_station_answers_server_calls() -> None:
    """A CALL from the server (here GetConfiguration right after boot) gets a CALLRESULT."""
    answers: list[Any] = []

    async def handler(ws: Any) -> None:
        async for raw in ws:
            msg = orjson.loads(raw)
            if msg[0] == 2 and msg[2] == "BootNotification":
                await ws.send(orjson.dumps([2, "srv-1", "GetConfiguration", {}]).decode())
                reply = {"currentTime": "2024-01-01T00:00:00Z", "interval": 60}
                reply["status"] = "Accepted"
                await ws.send(orjson.dumps([3, msg[1], reply]).decode())
            elif msg[0] == 3:
                answers.append(msg)

    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        w = Worker({"url_base": f"ws://127.0.0.1:{port}/", "indices": [0, 1], "timeout": 10})
        sweeper = asyncio.create_task(w._sweeper())
        res = await w.cmd_connect({"concurrency": 0, "boot": True})
        for _ in range(100):
            if len(answers) == 2:
                break
            await asyncio.sleep(0.02)
        await w.cmd_close({})
        sweeper.cancel()
    assert res["accepted"] == 2 and res["boot_timeouts"] == 0
    assert w.server_calls == 2
    assert sorted(a[1] for a in answers) == ["srv-1", "srv-1"]
    assert all(a[2] == {"configurationKey": [], "unknownKey": []} for a in answers)


def test_answers_are_checked() -> None:
    """What a correct CSMS must answer; anything else is counted as a wrong answer."""
    ok_tag = {"idTagInfo": {"status": "Accepted"}}
    assert F.check_answer("Authorize", ok_tag)
    assert not F.check_answer("Authorize", {"idTagInfo": {"status": "Invalid"}})
    assert F.check_answer("Authorize", {"idTagInfo": {"status": "Invalid"}}, "Invalid")
    assert not F.check_answer("Authorize", ok_tag, "Invalid")
    assert F.check_answer("StartTransaction", {"transactionId": 7, **ok_tag})
    for bad in (0, -1, True, "7"):
        assert not F.check_answer("StartTransaction", {"transactionId": bad, **ok_tag})
    concurrent = {"transactionId": 7, "idTagInfo": {"status": "ConcurrentTx"}}
    assert not F.check_answer("StartTransaction", concurrent)
    assert F.check_answer("StopTransaction", {})
    assert not F.check_answer("StopTransaction", {"idTagInfo": {"status": "Blocked"}})
    assert F.check_answer("MeterValues", {}) and not F.check_answer("MeterValues", {"x": 1})
    assert not F.check_answer("Heartbeat", {})
    boot = {"status": "Pending", "interval": 5, "currentTime": "2026-01-01T00:00:00Z"}
    assert F.check_answer("BootNotification", boot)
    assert not F.check_answer("BootNotification", {**boot, "status": "Maybe"})


def test_unknown_tag_only_affects_the_authorize() -> None:
    """A session whose Authorize presented an unknown tag still starts with its known tag."""
    w = Worker(
        {"url_base": "ws://127.0.0.1:1/", "indices": [0], "unknown_tag_share": 1.0, "seed": 1}
    )
    st = w.stations[0]
    auth = orjson.loads(w.frame_for(st, "Authorize", None))
    start = orjson.loads(w.frame_for(st, "StartTransaction", None))
    assert auth[3]["idTag"].startswith("BX") and st.tag_expect == "Invalid"
    assert start[3]["idTag"].startswith("BT")


def test_tags_are_never_shared_between_stations() -> None:
    """Each station walks its own slice of the 100,000 tags: no legitimate ConcurrentTx."""
    w = Worker({"url_base": "ws://127.0.0.1:1/", "indices": [0, 1, 2], "stations_total": 3})
    used: dict[str, int] = {}
    for _ in range(50):
        for st in w.stations:
            msg = orjson.loads(w.frame_for(st, "Authorize", None))
            assert used.setdefault(msg[3]["idTag"], st.index) == st.index
    assert len(used) == 150
