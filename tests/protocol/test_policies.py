"""Station policies (validation, boot) and StopTransactions that match nothing."""

from __future__ import annotations

from tests.conftest import Csms
from tests.protocol.raw import RawStation
from watthub.timeutil import now_ts


def _meter_values(**sample_extra: object) -> dict[str, object]:
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": now_ts(), "sampledValue": [{"value": "42", **sample_extra}]}],
    }


async def test_strict_validation_refuses_schema_violations(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    answer = await raw.call("mv-1", "MeterValues", _meter_values(unit="Error"))
    assert answer[:3] == [4, "mv-1", "PropertyConstraintViolation"]
    answer = await raw.call("mv-2", "MeterValues", {**_meter_values(), "extra": True})
    assert answer[:3] == [4, "mv-2", "FormationViolation"]
    anomalies = (await csms.api.get("/stations/CP1/anomalies")).json()
    assert anomalies["validation"] == []
    await raw.close()


async def test_lenient_validation_processes_and_counts_violations(csms: Csms) -> None:
    await csms.add_station("CP1")
    patched = await csms.api.patch("/stations/CP1", json={"validationPolicy": "lenient"})
    assert patched.status_code == 200 and patched.json()["validation_policy"] == "lenient"
    raw = await RawStation.open(csms.url("CP1"))
    answer = await raw.call("mv-1", "MeterValues", {**_meter_values(), "extra": True})
    assert answer == [3, "mv-1", {}]
    answer = await raw.call("mv-2", "MeterValues", _meter_values(unit="Error"))
    assert answer == [3, "mv-2", {}]
    # Still a CALLERROR when the payload cannot be processed at all.
    answer = await raw.call("mv-3", "MeterValues", {"meterValue": []})
    assert answer[0] == 4

    anomalies = (await csms.api.get("/stations/CP1/anomalies")).json()
    assert len(anomalies["validation"]) >= 2
    assert {v["action"] for v in anomalies["validation"]} == {"MeterValues"}
    from watthub.storage import transactions_repo

    async with csms.hub.services.engine.connect() as conn:
        stored = await transactions_repo.meter_values_for(conn, station_id="CP1")
    assert sorted((m["value"], str(m["unit"])) for m in stored) == [("42", "Error"), ("42", "None")]
    await raw.close()


async def test_pending_boot_blocks_remote_start_but_allows_get_configuration(
    csms: Csms,
) -> None:
    await csms.add_station("CP1", bootPolicy="Pending")
    raw = await RawStation.open(csms.url("CP1"))
    boot = await raw.boot()
    assert boot[2]["status"] == "Pending"
    refused = await csms.api.post("/stations/CP1/remote-start", json={"idTag": "TAG1"})
    assert refused.status_code == 409
    assert "Pending" in refused.json()["detail"]
    refused = await csms.command("CP1", "RemoteStopTransaction", {"transactionId": 1})
    assert refused.status_code == 409

    import asyncio

    task = asyncio.create_task(csms.api.post("/stations/CP1/get-configuration", json={}))
    frame = await raw.recv()
    assert frame[2] == "GetConfiguration"
    await raw.send([3, frame[1], {"configurationKey": [], "unknownKey": []}])
    assert (await task).status_code == 200
    await raw.close()


async def test_stop_transaction_unknown_minus_one_and_repeated(csms: Csms) -> None:
    await csms.add_station("CP1")
    await csms.add_tag("TAG1")
    raw = await RawStation.open(csms.url("CP1"))
    await raw.boot()

    def stop(tx: int) -> dict[str, object]:
        return {"transactionId": tx, "meterStop": 10, "timestamp": now_ts(), "idTag": "TAG1"}

    unknown = await raw.call("s-1", "StopTransaction", stop(987654))
    assert unknown[0] == 3 and unknown[2]["idTagInfo"]["status"] == "Accepted"
    minus_one = await raw.call("s-2", "StopTransaction", stop(-1))
    assert minus_one[0] == 3
    start = await raw.call(
        "s-3",
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": now_ts()},
    )
    tx = start[2]["transactionId"]
    assert (await raw.call("s-4", "StopTransaction", stop(tx)))[0] == 3
    assert (await raw.call("s-5", "StopTransaction", stop(tx)))[0] == 3  # repeated
    await raw.alive()

    anomalies = (await csms.api.get("/stations/CP1/anomalies")).json()["stopTransactions"]
    reasons = {(a["transaction_id"], a["reason"]) for a in anomalies}
    assert reasons == {
        (987654, "unknown_transaction"),
        (-1, "no_transaction_id"),
        (tx, "already_stopped"),
    }
    detail = (await csms.api.get(f"/transactions/{tx}")).json()
    assert "repeated_stop" in detail["flags"]
    assert detail["active"] is False
    await raw.close()
