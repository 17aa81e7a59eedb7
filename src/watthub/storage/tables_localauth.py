"""Local Authorization List: what WattHub knows of each station's local list."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table

from watthub.storage.tables import TS, metadata

local_list_state = Table(
    "local_list_state",
    metadata,
    Column(
        "station_id", String(255), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    ),
    # Which tags belong in the list: null = all tags, else a JSON list of parentIdTag groups.
    Column("groups", JSON),
    # The version and content ({idTag: idTagInfo}) the station last accepted.
    Column("version", Integer),
    Column("content", JSON),
    # Highest listVersion ever sent: versions only go up, even after a refused update.
    Column("last_sent_version", Integer, nullable=False, server_default="0"),
    Column("reported_version", Integer),  # last GetLocalListVersion answer
    Column("supported", Boolean),  # False after -1 / NotSupported
    Column("last_update_type", String(16)),
    Column("last_status", String(16)),
    Column("updated_at", TS),
)
