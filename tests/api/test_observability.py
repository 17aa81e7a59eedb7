"""GET /metrics, /health/live and /health/ready on a real WattHub, after real OCPP traffic.

The page is parsed with ``prometheus_client``'s own text parser, so a malformed exposition fails
here before it fails in a Prometheus server."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    PG_HOST,
    PG_PORT,
    Csms,
    _bound_socket,
    database_url,
    start_csms,
)
from tests.protocol.raw import RawStation
from tests.support.chargepoint import TestChargePoint, open_station_socket
from tests.support.poll import eventually
from tests.support.tcp_proxy import TcpProxy
from watthub.app import WattHub
from watthub.config import Settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(base: str, **headers: str) -> Samples:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def root(csms: Csms) -> str:
    return csms.api_base.removesuffix("/api/v1")


async def test_metrics_move_with_real_ocpp_traffic(csms: Csms, station: TestChargePoint) -> None:
    base = root(csms)
    before = await scrape(base)

    # Station -> CSMS: answered calls, and three kinds of CALLERROR from a raw station.
    await station.call(call.Heartbeat())
    await station.authorize("NOBODY")  # answered (Invalid), so result "ok"
    await csms.add_station("RAW")
    raw = await RawStation.open(csms.url("RAW"))
    try:
        assert (await raw.call("u1", "FooBar", {}))[2] == "NotImplemented"
        assert (await raw.call("u2", "Heartbeat", {"bogus": 1}))[2] == "FormationViolation"
        await raw.send_raw('[2, "u3", "Heartbeat", {')  # not JSON, but the id is readable
        assert (await raw.recv())[:3] == [4, "u3", "FormationViolation"]

        # CSMS -> station: one answered command and one the station refuses with a CALLERROR.
        answered = await csms.command(
            "CP1", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}
        )
        assert answered.status_code == 200, answered.text

        def refuse(_payload: dict[str, Any]) -> None:
            raise NotSupportedError("no lock on this connector")

        station.answers["UnlockConnector"] = refuse
        refused = await csms.command("CP1", "UnlockConnector", {"connectorId": 1})
        assert refused.status_code == 502, refused.text

        # A refused handshake: an identity WattHub does not know.
        with contextlib.suppress(Exception):
            await open_station_socket(csms.url("NOT-REGISTERED"))

        after = await eventually(
            lambda: scrape(base),
            lambda s: (
                value(s, "watthub_ocpp_messages_in_total", action="Heartbeat", result="callerror")
                > value(
                    before, "watthub_ocpp_messages_in_total", action="Heartbeat", result="callerror"
                )
            ),
        )
        assert value(after, "watthub_connected_stations") == 2
    finally:
        await raw.close()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("watthub_ocpp_messages_in_total", action="Heartbeat", result="ok") == 1
    assert delta("watthub_ocpp_messages_in_total", action="Authorize", result="ok") == 1
    assert delta("watthub_ocpp_messages_in_total", action="_unknown", result="callerror") == 1
    sent = "watthub_ocpp_callerrors_sent_total"
    assert delta(sent, action="_unknown", code="NotImplemented") == 1
    assert delta(sent, action="Heartbeat", code="FormationViolation") == 1
    assert delta(sent, action="_none", code="FormationViolation") == 1  # the unparseable frame
    assert delta("watthub_ocpp_calls_out_total", action="ChangeAvailability", result="ok") == 1
    assert delta("watthub_ocpp_calls_out_total", action="UnlockConnector", result="callerror") == 1
    assert (
        delta(
            "watthub_ocpp_callerrors_received_total", action="UnlockConnector", code="NotSupported"
        )
        == 1
    )
    assert delta("watthub_ocpp_call_out_seconds_count", action="ChangeAvailability") == 1
    assert delta("watthub_ocpp_handshake_refusals_total", status="404") == 1
    assert delta("watthub_station_connections_total") == 1  # RAW (CP1 was already connected)

    # Histograms agree with the counters: every answered CALL has one latency observation.
    for action in ("Heartbeat", "BootNotification", "StatusNotification", "Authorize"):
        answered_calls = sum(
            value(after, "watthub_ocpp_messages_in_total", action=action, result=r)
            for r in ("ok", "callerror")
        )
        count = value(after, "watthub_ocpp_message_handling_seconds_count", action=action)
        assert count == answered_calls > 0, action
        inf = value(after, "watthub_ocpp_message_handling_seconds_bucket", action=action, le="+Inf")
        assert inf == count

    # The writer committed the boot and status data; each batch has one commit-time sample.
    assert value(after, "watthub_writer_writes_total") > 0
    assert value(after, "watthub_writer_commit_seconds_count") == value(
        after, "watthub_writer_batches_total"
    )
    assert value(after, "watthub_dependency_up", dependency="database") == 1
    assert value(after, "watthub_ready") == 1
    assert value(after, "watthub_cluster_enabled") == 0
    assert value(after, "process_resident_memory_bytes") > 0


async def test_liveness_and_readiness(csms: Csms) -> None:
    async with httpx.AsyncClient(base_url=root(csms)) as anonymous:
        live = await anonymous.get("/health/live")
        ready = await anonymous.get("/health/ready")
        legacy = await anonymous.get("/api/v1/health")
    assert live.status_code == 200 and live.json()["status"] == "live"
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["writer"]["ok"] is True
    assert body["node"] == csms.hub.node_id
    assert legacy.status_code == 200 and legacy.json()["status"] == "ok"


async def test_metrics_token_and_internal_port(tmp_path: Path, tmp_path_factory: Any) -> None:
    hub, csms = await start_csms(
        "sqlite", tmp_path, tmp_path_factory, metrics_token="scrape-me", metrics_port=0
    )
    try:
        internal = f"http://127.0.0.1:{hub.metrics_port}"
        async with httpx.AsyncClient() as client:
            for base in (root(csms), internal):
                missing = await client.get(f"{base}/metrics")
                operator = await client.get(
                    f"{base}/metrics", headers={"Authorization": f"Bearer {csms.token}"}
                )
                assert missing.status_code == 401, base
                assert operator.status_code == 401, base  # an API token is not the metrics token
                assert missing.headers["WWW-Authenticate"] == "Bearer"
                # Health checks never need a token: load balancers do not carry one.
                assert (await client.get(f"{base}/health/ready")).status_code == 200
            # The internal port serves observability only, never the operator API.
            api = await client.get(f"{internal}/api/v1/stations")
            assert api.status_code == 404
        samples = await scrape(internal, Authorization="Bearer scrape-me")
        assert value(samples, "watthub_ready") == 1
        assert value(samples, "watthub_info", version="0.1.0", node=hub.node_id, backend="sqlite")
    finally:
        await csms.api.aclose()
        await hub.stop()


async def test_cluster_membership_from_the_cluster_hook(csms: Csms) -> None:
    async def members() -> list[str]:
        return ["node-b", "node-a"]

    csms.hub.services.metrics.membership = members
    samples = await scrape(root(csms))
    assert value(samples, "watthub_cluster_enabled") == 1
    assert value(samples, "watthub_cluster_nodes") == 2
    assert value(samples, "watthub_cluster_node", node="node-a") == 1


async def test_readiness_follows_the_database(tmp_path: Path, tmp_path_factory: Any) -> None:
    """PostgreSQL behind a proxy that is cut: ready -> 503 naming the database -> ready again,
    while liveness stays 200 and /metrics keeps answering."""
    url = await database_url("postgres", tmp_path, tmp_path_factory)
    proxy = await TcpProxy(PG_HOST, PG_PORT).start()
    settings = Settings(
        database_url=url.replace(f"@{PG_HOST}:{PG_PORT}/", f"@127.0.0.1:{proxy.port}/"),
        data_dir=tmp_path / "data",
        ping_interval=None,
        ocpp_port=0,
        api_port=0,
        health_check_timeout=1.0,
    )
    hub = WattHub(settings)
    await hub.start(ocpp_sock=_bound_socket(), api_sock=_bound_socket())
    base = f"http://127.0.0.1:{hub.api_port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/health/ready")).status_code == 200

            await proxy.cut()
            down = await eventually(
                lambda: client.get("/health/ready"), lambda r: r.status_code == 503
            )
            body = down.json()
            assert body["status"] == "unready"
            assert body["reason"].startswith("database: ")
            assert body["checks"]["database"]["ok"] is False
            assert (await client.get("/health/live")).status_code == 200
            samples = parse((await client.get("/metrics")).text)
            assert value(samples, "watthub_dependency_up", dependency="database") == 0
            assert value(samples, "watthub_ready") == 0

            await proxy.restore()
            up = await eventually(
                lambda: client.get("/health/ready"), lambda r: r.status_code == 200, timeout=10
            )
            assert up.json()["checks"]["database"]["ok"] is True
    finally:
        await proxy.restore()  # the hub stops cleanly only with its database
        await hub.stop()
        await proxy.close()


async def test_grafana_dashboard_uses_only_metrics_the_page_has(csms: Csms) -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana-watthub.json").read_text())
    async with httpx.AsyncClient(base_url=root(csms)) as client:
        page = (await client.get("/metrics")).text
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", page, re.MULTILINE))
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"\b((?:watthub|process)_[a-z_]+)", target["expr"])
    }
    assert len(used) > 15
    for name in used:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in families or families.get(base) == "histogram", name
