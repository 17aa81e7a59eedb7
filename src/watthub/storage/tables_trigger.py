"""TriggerMessage requests and the station's answers."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from watthub.storage.tables import TS, BigId, metadata

trigger_requests = Table(
    "trigger_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("requested_message", String(40), nullable=False),
    Column("connector_id", Integer),
    Column("status", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Index("ix_trigger_requests_station", "station_id", "created_at"),
)
