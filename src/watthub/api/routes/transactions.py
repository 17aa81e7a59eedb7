"""Transactions: list with filters, detail with meter values, CSV export, closing by hand."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from watthub.api import present
from watthub.api.deps import get_hub, require_token
from watthub.domain.transactions import REASON_MAX, clean_reason, close_by_operator
from watthub.storage import transactions_repo

router = APIRouter(tags=["transactions"], dependencies=[Depends(require_token)])

# A transactionId is an OCPP integer (32 bits): anything else is answered 422, never passed to
# the database (an id beyond its column's range made it fail with a 500).
TransactionId = Annotated[
    int, Path(ge=-(2**31), le=2**31 - 1, description="The OCPP transactionId (32-bit)")
]

# The same camelCase names as the JSON fields (docs/api.md).
CSV_COLUMNS = [
    "id",
    "stationId",
    "connectorId",
    "idTag",
    "idTagStatus",
    "startTime",
    "meterStart",
    "stopTime",
    "meterStop",
    "energyWh",
    "stopReason",
    "reservationId",
    "flags",
]


def _view(tx: dict[str, Any]) -> dict[str, Any]:
    out = present.row(tx) or {}
    out["energyWh"] = tx["meter_stop"] - tx["meter_start"] if tx["meter_stop"] is not None else None
    out["active"] = tx["stop_time"] is None
    return out


async def _query(hub: Any, **filters: Any) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return await transactions_repo.list_transactions(conn, **filters)


@router.get("/transactions", summary="Transactions, newest first")
async def list_transactions(
    station_id: str | None = Query(None, alias="stationId"),
    id_tag: str | None = Query(None, alias="idTag"),
    active: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=10000),
    offset: int = Query(0, ge=0, le=2**62),
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    txs = await _query(
        hub,
        station_id=station_id,
        id_tag=id_tag,
        active=active,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return [_view(t) for t in txs]


@router.get("/transactions.csv", summary="CSV export (same filters)")
async def export_csv(
    station_id: str | None = Query(None, alias="stationId"),
    id_tag: str | None = Query(None, alias="idTag"),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100000, ge=1, le=1000000),
    hub: Any = Depends(get_hub),
) -> Response:
    txs = await _query(
        hub, station_id=station_id, id_tag=id_tag, since=since, until=until, limit=limit
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for tx in txs:
        writer.writerow(_view(tx))
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="transactions.csv"'},
    )


@router.get("/transactions/{transaction_id}", summary="One transaction with its meter values")
async def get_transaction(
    transaction_id: TransactionId, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        tx = await transactions_repo.get_transaction(conn, transaction_id)
        if tx is None:
            raise HTTPException(404, f"Transaction {transaction_id} is unknown")
        values = await transactions_repo.meter_values_for(conn, transaction_id=transaction_id)
    out = _view(tx)
    out["meterValues"] = present.rows(values)
    return out


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=REASON_MAX,
        description="Why it is closed; kept in the transaction's flags (`closeReason=…`)",
        examples=["Charger replaced; the session was lost"],
    )


@router.post(
    "/transactions/{transaction_id}/close",
    summary="Close a transaction by hand (bookkeeping only: nothing is sent to the station)",
    responses={404: {"description": "Unknown transaction"}, 409: {"description": "Stopped"}},
)
async def close_transaction(
    transaction_id: TransactionId, body: CloseRequest, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    """For a transaction the charger will never stop (it lost it). meterStop and the stop time
    come from its last energy reading, the stop reason is `Other`, the flags get
    `operatorClosed` and `closeReason=…`; sites and smart charging see it stopped. To stop a
    charge that is really running, use remote-stop instead."""
    if not clean_reason(body.reason):
        raise HTTPException(422, "reason must contain readable text")
    outcome, tx = await close_by_operator(hub.services, transaction_id, body.reason)
    if outcome == "unknown":
        raise HTTPException(404, f"Transaction {transaction_id} is unknown")
    if outcome == "already_stopped":
        raise HTTPException(409, f"Transaction {transaction_id} is already stopped")
    assert tx is not None
    return _view(tx)
