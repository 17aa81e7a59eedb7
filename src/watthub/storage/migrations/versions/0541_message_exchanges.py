"""message_log: an inbound exchange (the station's CALL and our answer) in one row

Revision ID: 0541
Revises: 0531

Existing rows stay single-frame rows (the new columns NULL) and read as before. The downgrade
splits every exchange row back into its two frames (the answers get new, higher ids).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0541"
down_revision = "0531"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_log") as batch:
        batch.add_column(sa.Column("answer_type", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("answer_payload", sa.Text(), nullable=True))
        batch.add_column(sa.Column("answer_delay_us", sa.BigInteger(), nullable=True))


_SPLIT_COLUMNS = "station_id, direction, message_type, action, message_id, payload, created_at"


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            f"INSERT INTO message_log ({_SPLIT_COLUMNS}) "
            "SELECT station_id, CASE direction WHEN 'in' THEN 'out' ELSE 'in' END, answer_type, "
            "action, message_id, answer_payload, "
            "created_at + answer_delay_us * interval '1 microsecond' "
            "FROM message_log WHERE answer_type IS NOT NULL ORDER BY id"
        )
    else:
        _split_sqlite(bind)
    with op.batch_alter_table("message_log") as batch:
        batch.drop_column("answer_delay_us")
        batch.drop_column("answer_payload")
        batch.drop_column("answer_type")


def _split_sqlite(bind: sa.Connection) -> None:
    """SQLite has no microsecond date arithmetic: the answers' times are computed here, in
    chunks (a message log may hold millions of rows)."""
    last = 0
    while True:
        rows = bind.exec_driver_sql(
            "SELECT id, station_id, direction, answer_type, action, message_id, answer_payload, "
            "created_at, answer_delay_us FROM message_log "
            "WHERE answer_type IS NOT NULL AND id > ? ORDER BY id LIMIT 5000",
            (last,),
        ).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        out = []
        for _id, station, direction, kind, action, message_id, payload, created, delay in rows:
            at = _parse(created) + timedelta(microseconds=delay or 0)
            answer_direction = "out" if direction == "in" else "in"
            stamp = at.isoformat(" ", "microseconds")
            out.append((station, answer_direction, kind, action, message_id, payload, stamp))
        bind.exec_driver_sql(
            f"INSERT INTO message_log ({_SPLIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", out
        )


def _parse(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return datetime.fromisoformat(value)
