"""transactions: index the open transactions by connector, only the open ones

Revision ID: 0581
Revises: 0571
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0581"
down_revision = "0571"
branch_labels = None
depends_on = None

_OPEN = sa.text("stop_time IS NULL")


def upgrade() -> None:
    # StartTransaction asks "is a transaction open on this connector?". The (stop_time,
    # station_id) index held every transaction ever made, and PostgreSQL's plan for the start's
    # statement, fixed while the table was small, read all open transactions of the network
    # through the idTag index instead (325 rows filtered per start in the benchmark). Partial:
    # as small as the running sessions, and a stop leaves it instead of adding an entry.
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.drop_index("ix_transactions_open")
    op.create_index(
        "ix_transactions_open_connector",
        "transactions",
        ["station_id", "connector_id"],
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_open_connector", table_name="transactions")
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.create_index("ix_transactions_open", ["stop_time", "station_id"], unique=False)
