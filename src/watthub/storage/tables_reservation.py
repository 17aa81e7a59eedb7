"""Reservations WattHub asked for, and what became of them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from watthub.storage.tables import TS, BigId, metadata

reservations = Table(
    "reservations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("reservation_id", Integer, nullable=False),  # the OCPP reservationId
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(20), nullable=False),
    Column("parent_id_tag", String(20)),
    Column("expiry_date", TS, nullable=False),
    # sent → active | refused (station answer not Accepted) → used | expired | cancelled;
    # replaced when a ReserveNow reuses the reservationId.
    Column("status", String(16), nullable=False),
    Column("station_answer", String(16)),
    Column("cancel_answer", String(16)),
    Column("transaction_id", BigInteger),
    Column("created_at", TS, nullable=False),
    Column("ended_at", TS),
    Index("ix_reservations_station_rid", "station_id", "reservation_id"),
    Index("ix_reservations_status_expiry", "status", "expiry_date"),
    # A station's active reservations, asked on every StartTransaction (migration 0561): by status
    # alone that read every active reservation of the network, by station alone all of the
    # station's past ones.
    Index("ix_reservations_station_status", "station_id", "status"),
)
