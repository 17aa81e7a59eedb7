"""status_history: a station's history by (station_id, id); the faults by a partial index

Revision ID: 0601
Revises: 0591
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0601"
down_revision = "0591"
branch_labels = None
depends_on = None

# The condition of the console's "recent faults" (console_repo.recent_events), word for word:
# a partial index serves a query whose condition matches its own.
FAULTS = sa.text("status = 'Faulted' OR error_code <> 'NoError'")


def upgrade() -> None:
    # Both reads are "newest first by id". With an index on station_id alone PostgreSQL read
    # the whole history backwards through the primary key for a quiet station (or sorted all of
    # a busy station's rows), and the overview's faults, rare by nature, were found by reading
    # every status ever stored. The faults index holds only faults: no cost per status.
    op.create_index("ix_status_history_station", "status_history", ["station_id", "id"])
    with op.batch_alter_table("status_history") as batch_op:
        batch_op.drop_index("ix_status_history_station_id")
    op.create_index(
        "ix_status_history_faults",
        "status_history",
        ["id"],
        sqlite_where=FAULTS,
        postgresql_where=FAULTS,
    )


def downgrade() -> None:
    op.drop_index("ix_status_history_faults", table_name="status_history")
    op.create_index("ix_status_history_station_id", "status_history", ["station_id"])
    op.drop_index("ix_status_history_station", table_name="status_history")
