"""meter_readings: the redelivery key index leads with the reading's time, not the station

Keyed (station_id, timestamp, reading_key), every MeterValues inserted into its own station's
index leaf: with many stations metering at once each commit rewrote one index page per message
(a quarter of SQLite's WAL pages in the benchmark's mix, PostgreSQL's index pages likewise).
Readings arrive at about "now", so keyed (timestamp, station_id, reading_key) they go to the few
newest leaves, shared by the whole commit. The set of columns, hence what counts as the same
reading (a redelivered message inserts nothing), is unchanged; no query looks readings up by
station and time (they are read by transaction, ``ix_meter_readings_transaction_id``).

Revision ID: 0571
Revises: 0561
"""

from __future__ import annotations

from alembic import op

revision = "0571"
down_revision = "0561"
branch_labels = None
depends_on = None


def _key(*columns: str) -> None:
    op.drop_index("ux_meter_readings_key", table_name="meter_readings")
    op.create_index("ux_meter_readings_key", "meter_readings", list(columns), unique=True)


def upgrade() -> None:
    _key("timestamp", "station_id", "reading_key")


def downgrade() -> None:
    _key("station_id", "timestamp", "reading_key")
