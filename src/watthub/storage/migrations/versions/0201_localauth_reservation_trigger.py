"""local list state, reservations, trigger requests

Revision ID: 0201
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0201"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "local_list_state",
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("content", sa.JSON(), nullable=True),
        sa.Column("last_sent_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reported_version", sa.Integer(), nullable=True),
        sa.Column("supported", sa.Boolean(), nullable=True),
        sa.Column("last_update_type", sa.String(length=16), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("updated_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_local_list_state_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_local_list_state")),
    )
    op.create_table(
        "reservations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("parent_id_tag", sa.String(length=20), nullable=True),
        sa.Column("expiry_date", TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("station_answer", sa.String(length=16), nullable=True),
        sa.Column("cancel_answer", sa.String(length=16), nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index("ix_reservations_station_rid", "reservations", ["station_id", "reservation_id"])
    op.create_index("ix_reservations_status_expiry", "reservations", ["status", "expiry_date"])
    op.create_table(
        "trigger_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("requested_message", sa.String(length=40), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_requests")),
    )
    op.create_index("ix_trigger_requests_station", "trigger_requests", ["station_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_trigger_requests_station", table_name="trigger_requests")
    op.drop_table("trigger_requests")
    op.drop_index("ix_reservations_status_expiry", table_name="reservations")
    op.drop_index("ix_reservations_station_rid", table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("local_list_state")
