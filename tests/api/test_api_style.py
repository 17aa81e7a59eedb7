"""One API style: every JSON field name is camelCase, in requests and in responses (docs/api.md).

The OpenAPI document is walked for request/response schema properties and query parameters;
real responses of the main resources are walked for keys at every depth."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from tests.conftest import Csms
from tests.support.poll import eventually
from watthub.api.app import create_api
from watthub.app import WattHub
from watthub.config import Settings

SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
OPERATIONS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _schema_properties(node: Any, where: str) -> list[tuple[str, str]]:
    """Every (location, property name) under a JSON schema, nested schemas included."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            found.append((where, name))
            found += _schema_properties(sub, f"{where}.{name}")
        for key, sub in node.items():
            if key != "properties":
                found += _schema_properties(sub, where)
    elif isinstance(node, list):
        for sub in node:
            found += _schema_properties(sub, where)
    return found


def _snake_keys(data: Any, where: str = "$") -> list[str]:
    """Paths of snake_case keys at any depth of a JSON response."""
    bad: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if SNAKE.match(str(key)):
                bad.append(f"{where}.{key}")
            bad += _snake_keys(value, f"{where}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            bad += _snake_keys(value, f"{where}[{i}]")
    return bad


async def _json(csms: Csms, path: str) -> Any:
    return (await csms.api.get(path)).json()


def test_openapi_is_camel_case_with_unique_operation_ids(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db", data_dir=tmp_path)
    document = create_api(WattHub(settings)).openapi()

    ids: dict[str, list[str]] = {}
    snake: list[str] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in OPERATIONS:
                continue
            ids.setdefault(operation["operationId"], []).append(f"{method.upper()} {path}")
            for parameter in operation.get("parameters", []):
                # Path parameters are positions in the URL, not field names.
                if parameter["in"] == "query" and SNAKE.match(parameter["name"]):
                    snake.append(f"{method.upper()} {path}: query parameter {parameter['name']}")
    duplicates = {k: v for k, v in ids.items() if len(v) > 1}
    assert not duplicates, duplicates
    assert len(ids) > 60  # every route was seen

    schemas = document["components"]["schemas"]
    properties = _schema_properties(schemas, "components")
    properties += _schema_properties(document["paths"], "paths")
    snake += [f"{where}: {name}" for where, name in properties if SNAKE.match(name)]
    assert not snake, snake
    # The walk did see the request bodies (a guard against a walk that finds nothing).
    assert ("components", "expiryDate") in {(w.split(".")[0], n) for w, n in properties}
    assert "heartbeatInterval" in schemas["StationCreate"]["properties"]


async def test_stations_camel_case_in_and_out(csms: Csms) -> None:
    created = await csms.add_station(
        "CP1", bootPolicy="Pending", heartbeatInterval=90, validationPolicy="lenient"
    )
    assert created["bootPolicy"] == "Pending"
    assert created["heartbeatInterval"] == 90
    assert created["validationPolicy"] == "lenient"
    assert created["securityProfile"] == 0 and created["hasPassword"] is False
    assert "createdAt" in created and not _snake_keys(created)

    # A client still sending the old snake_case names gets a 422 naming the camelCase field,
    # and nothing is changed.
    old_style = await csms.api.patch("/stations/CP1", json={"boot_policy": "Accepted"})
    assert old_style.status_code == 422
    assert "bootPolicy" in old_style.json()["detail"]
    assert (await csms.api.get("/stations/CP1")).json()["bootPolicy"] == "Pending"

    await csms.api.patch("/stations/CP1", json={"bootPolicy": "Accepted"})
    cp = await csms.connect("CP1")
    await cp.booted(connectors=1)
    shown = (await csms.api.get("/stations/CP1")).json()
    assert shown["registrationStatus"] == "Accepted"
    assert shown["lastBootAt"].endswith("Z")
    assert shown["connectors"][0]["connectorId"] in (0, 1)
    assert {"errorCode", "status"} <= set(shown["connectors"][0])
    assert not _snake_keys(shown)
    # The message log and status history are written in the background: wait for them.
    for path in ("/stations", "/stations/CP1/messages", "/stations/CP1/status-history"):
        body = await eventually(lambda p=path: _json(csms, p), bool)
        assert not _snake_keys(body), (path, _snake_keys(body))
    log = (await csms.api.get("/stations/CP1/messages")).json()
    assert {"messageId", "messageType", "createdAt", "frame"} <= set(log[0])


async def test_id_tags_camel_case_in_and_out(csms: Csms) -> None:
    put = await csms.api.put(
        "/id-tags/Tag-1",
        json={
            "status": "Accepted",
            "expiryDate": "2031-05-01T08:00:00Z",
            "parentIdTag": "FLEET",
            "allowConcurrentTx": True,
        },
    )
    assert put.status_code == 200, put.text
    tag = put.json()
    assert tag["idTag"] == "Tag-1"
    assert tag["expiryDate"] == "2031-05-01T08:00:00.000Z"
    assert tag["parentIdTag"] == "FLEET"
    assert tag["allowConcurrentTx"] is True
    assert "idTagNorm" not in tag and not _snake_keys(tag)
    listed = (await csms.api.get("/id-tags")).json()
    assert [t["idTag"] for t in listed] == ["Tag-1"] and not _snake_keys(listed)

    old_style = await csms.api.put("/id-tags/Tag-1", json={"expiry_date": "2032-01-01T00:00:00Z"})
    assert old_style.status_code == 422
    assert "expiryDate" in old_style.json()["detail"]
    kept = (await csms.api.get("/id-tags/tag-1")).json()
    assert kept["expiryDate"] == "2031-05-01T08:00:00.000Z"


async def test_transactions_camel_case_out_and_in_filters(csms: Csms) -> None:
    await csms.add_tag("TAG1")
    cp = await csms.connect("CP1")
    await cp.booted()
    tx = (await cp.start_transaction("TAG1", 1, meter_start=1000)).transaction_id
    await cp.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx,
            meter_value=[
                {
                    "timestamp": "2026-01-01T00:00:00Z",
                    "sampledValue": [
                        {"value": "1500", "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
        )
    )
    await cp.stop_transaction(tx, meter_stop=2500, reason="Local")

    listed = await csms.api.get("/transactions", params={"stationId": "CP1", "idTag": "tag1"})
    assert [t["id"] for t in listed.json()] == [tx]
    detail = (await csms.api.get(f"/transactions/{tx}")).json()
    assert detail["stationId"] == "CP1" and detail["connectorId"] == 1
    assert detail["idTag"] == "TAG1" and detail["idTagStatus"] == "Accepted"
    assert (detail["meterStart"], detail["meterStop"], detail["energyWh"]) == (1000, 2500, 1500)
    assert detail["stopReason"] == "Local" and detail["active"] is False
    assert detail["startTime"].endswith("Z") and detail["stopTime"].endswith("Z")
    assert detail["meterValues"], detail
    assert not _snake_keys(detail), _snake_keys(detail)

    exported = await csms.api.get("/transactions.csv", params={"stationId": "CP1"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["stationId"] == "CP1" and rows[0]["energyWh"] == "1500"
    assert not [c for c in rows[0] if SNAKE.match(c)]

    reservations = await csms.api.get("/reservations", params={"stationId": "CP1"})
    assert reservations.status_code == 200 and reservations.json() == []
    # An old snake_case filter is refused with the new name, not ignored (which would return
    # every transaction unfiltered).
    old_style = await csms.api.get("/transactions", params={"station_id": "CP2"})
    assert old_style.status_code == 422
    assert "station_id → stationId" in old_style.json()["detail"]
