"""sites: what a connector may draw at most, and transactions whose station refused its limit

Revision ID: 0521
Revises: 0511
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0521"
down_revision = "0511"  # chained after txint when both branches were merged (perf)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("max_per_connector", sa.Float(), nullable=True))
    with op.batch_alter_table("site_allocations") as batch:
        batch.add_column(sa.Column("refused", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("site_allocations") as batch:
        batch.drop_column("refused")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("max_per_connector")
