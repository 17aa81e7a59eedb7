"""kill -9 under load (issue #11 §5): a real ``watthub serve`` is killed with SIGKILL while
chargers run transactions; they redeliver what was left unanswered after it restarts, as real
chargers do. Afterwards every acknowledged StartTransaction, MeterValues and StopTransaction is
compared with the database, and nothing may be stored twice.

Bounded for CI: a few chargers, two kills, about a second of load between them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.conftest import database_url
from tests.integrity.charger import ENERGY, Charger
from tests.support.processes import free_port, wait_healthy_async
from watthub.storage import db, stations_repo, tags_repo, transactions_repo
from watthub.storage.tables import transactions
from watthub.timeutil import as_utc, parse_ts

ROOT = Path(__file__).resolve().parents[2]
CHARGERS = 6
KILLS = 2
LOAD_SECONDS = 1.0


class Server:
    """``python -m watthub serve`` as a subprocess, restartable on the same ports and database."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.ocpp_port, self.api_port = free_port(), free_port()
        self.log = tmp_path / "server.log"
        self.env = {
            **os.environ,
            "WATTHUB_DATABASE_URL": url,
            "WATTHUB_OCPP_PORT": str(self.ocpp_port),
            "WATTHUB_API_PORT": str(self.api_port),
            "WATTHUB_DATA_DIR": str(tmp_path / "data"),
            "WATTHUB_SQLITE_SYNCHRONOUS": "NORMAL",
            "WATTHUB_LOG_LEVEL": "WARNING",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "watthub",
                "serve",
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process
        await wait_healthy_async(
            self.api_port, lambda: process.returncode is None, 60, self.log.read_text
        )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _seed(url: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            for n in range(CHARGERS):
                await stations_repo.create_station(conn, f"K{n}")
                await tags_repo.put_tag(conn, f"KTAG{n}")
    finally:
        await engine.dispose()


async def _stored(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            txs = [dict(r._mapping) for r in await conn.execute(select(transactions))]
            stations = [f"K{n}" for n in range(CHARGERS)]
            rows = [
                row
                for station_id in stations
                for row in await transactions_repo.meter_values_for(
                    conn, station_id=station_id, limit=10**9
                )
            ]
    finally:
        await engine.dispose()
    return txs, rows


async def test_kill9_under_load_loses_nothing_and_stores_nothing_twice(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    url = await database_url(backend, tmp_path, tmp_path_factory)
    await _seed(url)
    server = Server(url, tmp_path)
    await server.start()
    base = f"ws://127.0.0.1:{server.ocpp_port}/ocpp"
    chargers = [
        Charger(f"K{n}", f"{base}/K{n}", f"KTAG{n}", new_id_on_redelivery=n % 2 == 1)
        for n in range(CHARGERS)
    ]
    tasks = [asyncio.create_task(c.run()) for c in chargers]
    try:
        for _ in range(KILLS):
            await asyncio.sleep(LOAD_SECONDS)
            await server.kill()
            await server.start()
        await asyncio.sleep(LOAD_SECONDS)
        for charger in chargers:
            charger.finishing = True
        async with asyncio.timeout(60):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()
    txs, rows = await _stored(url)

    acked = [(c.station_id, m, a) for c in chargers for m, a in c.acked]
    starts = [(s, m, a) for s, m, a in acked if m.action == "StartTransaction"]
    content = Counter(
        (t["station_id"], t["connector_id"], t["id_tag"], as_utc(t["start_time"]), t["meter_start"])
        for t in txs
    )
    sample = Counter(
        (r["station_id"], r["transaction_id"], as_utc(r["timestamp"]), r["measurand"], r["value"])
        for r in rows
    )
    by_id = {t["id"]: t for t in txs}
    figures = {
        "backend": backend,
        "acknowledged": len(acked),
        "starts": len(starts),
        "redelivered_same_id": sum(c.redelivered_same_id for c in chargers),
        "redelivered_new_id": sum(c.redelivered_new_id for c in chargers),
        # Redelivered starts whose transaction was stored before the redelivery went out: killed
        # between commit and answer. Each one was a duplicate transaction before the fix.
        "redelivered_starts_already_stored": sum(
            m.redelivered_at is not None
            and as_utc(by_id[a["transactionId"]]["created_at"]).timestamp() < m.redelivered_at
            for _s, m, a in starts
            if a["transactionId"] in by_id
        ),
        "transactions_stored": len(txs),
        "duplicate_transactions": sum(n - 1 for n in content.values()),
        "duplicate_meter_rows": sum(n - 1 for n in sample.values()),
        "concurrent_tx_answers": sum(
            a["idTagInfo"]["status"] == "ConcurrentTx" for _s, _m, a in starts
        ),
        "open_transactions": sum(t["stop_time"] is None for t in txs),
    }
    print("kill9 figures:", json.dumps(figures))
    assert len(starts) >= CHARGERS  # the load ran

    for station_id, message, answer in acked:
        p = message.payload
        if message.action == "StartTransaction":
            assert answer["idTagInfo"]["status"] == "Accepted", (station_id, answer)
            tx = by_id[answer["transactionId"]]
            assert (tx["station_id"], tx["id_tag"], tx["meter_start"]) == (
                station_id,
                p["idTag"],
                p["meterStart"],
            )
            assert as_utc(tx["start_time"]) == parse_ts(p["timestamp"])
        elif message.action == "MeterValues":
            [reading] = p["meterValue"]
            for sv in reading["sampledValue"]:
                key = (
                    station_id,
                    p["transactionId"],
                    parse_ts(reading["timestamp"]),
                    sv.get("measurand", ENERGY),
                    sv["value"],
                )
                assert sample[key] == 1, (key, sample[key])
        else:
            tx = by_id[p["transactionId"]]
            assert tx["meter_stop"] == p["meterStop"], (tx, p)
            assert as_utc(tx["stop_time"]) == parse_ts(p["timestamp"])
    # Every stored transaction is one the chargers were told about, and all of them ended.
    assert {a["transactionId"] for _s, _m, a in starts} == set(by_id), figures
    assert figures["duplicate_transactions"] == 0, figures
    assert figures["duplicate_meter_rows"] == 0, figures
    assert figures["open_transactions"] == 0, figures
