"""reservations: index a station's reservations by status (asked on every StartTransaction)

Revision ID: 0561
Revises: 0551
"""

from __future__ import annotations

from alembic import op

revision = "0561"
down_revision = "0551"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reservations_station_status", "reservations", ["station_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_reservations_station_status", table_name="reservations")
