"""transactions: index the open transactions by idTag (the StartTransaction concurrency check)

Revision ID: 0551
Revises: 0541
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0551"
down_revision = "0541"
branch_labels = None
depends_on = None

_OPEN = sa.text("stop_time IS NULL")


def upgrade() -> None:
    # Partial: only open transactions, so the index stays as small as the running sessions and a
    # stopped transaction leaves it. The expression is the one the query compares (lower()).
    op.create_index(
        "ix_transactions_open_tag",
        "transactions",
        [sa.text("lower(id_tag)")],
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_open_tag", table_name="transactions")
