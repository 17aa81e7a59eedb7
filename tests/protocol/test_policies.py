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
    raw = await RawStation.open(csms.url("CP1"))
    strict = await raw.call("mv-0", "MeterValues", {**_meter_values(), "extra": True})
    assert strict[0] == 4
    # Switched while connected: applies to the live connection.
    patched = await csms.api.patch("/stations/CP1", json={"validationPolicy": "lenient"})
    assert patched.status_code == 200 and patched.json()["validationPolicy"] == "lenient"
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
    reasons = {(a["transactionId"], a["reason"]) for a in anomalies}
    assert reasons == {
        (987654, "unknown_transaction"),
        (-1, "no_transaction_id"),
        (tx, "already_stopped"),
    }
    detail = (await csms.api.get(f"/transactions/{tx}")).json()
    assert "repeated_stop" in detail["flags"]
    assert detail["active"] is False
    await raw.close()


async def test_lenient_over_long_strings_are_stored_on_every_database(csms: Csms) -> None:
    """Lenient means processed: values longer than the schema allows must not make the database
    (PostgreSQL enforces VARCHAR lengths, SQLite does not) turn the answer into an error."""
    await csms.add_station("CP1", validationPolicy="lenient")
    await csms.add_tag("TAG1")
    raw = await RawStation.open(csms.url("CP1"))
    boot = await raw.call(
        "b-1", "BootNotification", {"chargePointVendor": "V" * 25, "chargePointModel": "M" * 30}
    )
    assert boot[0] == 3 and boot[2]["status"] == "Accepted", boot
    status = await raw.call(
        "s-1",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "i" * 60},
    )
    assert status == [3, "s-1", {}]
    start = await raw.call(
        "t-1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "T" * 25, "meterStart": 0, "timestamp": now_ts()},
    )
    assert start[0] == 3 and start[2]["transactionId"] > 0, start
    assert start[2]["idTagInfo"]["status"] == "Invalid"
    values = await raw.call("m-1", "MeterValues", _meter_values(unit="U" * 30, measurand="X" * 80))
    assert values == [3, "m-1", {}]
    station = (await csms.api.get("/stations/CP1")).json()
    assert station["vendor"].startswith("VVVV")
    assert station["connectors"][0]["status"] == "Available"
    assert len((await csms.api.get("/stations/CP1/anomalies")).json()["validation"]) == 4
    await raw.close()


async def test_long_unknown_action_is_answered_and_logged(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    action = "A" * 100
    answer = await raw.call("x-1", action, {})
    assert answer[:3] == [4, "x-1", "NotImplemented"]
    await raw.alive()
    import asyncio

    for _ in range(50):
        log = (await csms.api.get("/stations/CP1/messages")).json()
        if len(log) >= 4:
            break
        await asyncio.sleep(0.1)
    logged = [m for m in log if m["messageId"] == "x-1"]
    assert {m["direction"] for m in logged} == {"in", "out"}
    assert all(m["action"].startswith("AAAA") for m in logged)
    await raw.close()


async def test_get_configuration_answer_with_over_long_key_is_stored(csms: Csms) -> None:
    # A station may answer with a key longer than CiString50 (the answer is checked, not refused):
    # the answer must still reach the operator and be stored.
    import asyncio

    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    long_key = "VendorSpecific" + "K" * 60
    task = asyncio.create_task(csms.api.post("/stations/CP1/get-configuration", json={}))
    frame = await raw.recv()
    await raw.send(
        [3, frame[1], {"configurationKey": [{"key": long_key, "readonly": True, "value": "v"}]}]
    )
    response = await task
    assert response.status_code == 200, response.text
    assert response.json()["configurationKey"][0]["key"] == long_key
    stored = (await csms.api.get("/stations/CP1/configuration")).json()
    assert len(stored) == 1 and long_key.startswith(stored[0]["key"])
    await raw.close()


async def test_pending_station_accepted_after_policy_change(csms: Csms) -> None:
    await csms.add_station("CP1", bootPolicy="Pending")
    raw = await RawStation.open(csms.url("CP1"))
    first = await raw.boot()
    assert first[2]["status"] == "Pending" and first[2]["interval"] > 0
    assert (
        await csms.api.patch("/stations/CP1", json={"bootPolicy": "Accepted"})
    ).status_code == 200
    again = await raw.call(
        "boot-2", "BootNotification", {"chargePointVendor": "Raw", "chargePointModel": "WS"}
    )
    assert again[2]["status"] == "Accepted"
    station = (await csms.api.get("/stations/CP1")).json()
    assert station["registrationStatus"] == "Accepted"
    await raw.close()
