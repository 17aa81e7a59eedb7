"""transaction integrity: idempotent StartTransaction and MeterValues, stored idTagInfo

Revision ID: 0511
Revises: 0501

Rows stored before this revision keep NULL keys: NULLs never conflict in a unique index, so
duplicates an older version may have stored do not stop the upgrade (they stay as they are).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0511"
down_revision = "0501"  # chained after auth (main) when merged into perf
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("id_tag_info", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("start_key", sa.String(128), nullable=True))
        batch.create_index("ux_transactions_start_key", ["station_id", "start_key"], unique=True)
    with op.batch_alter_table("meter_values") as batch:
        batch.add_column(sa.Column("sample_key", sa.BigInteger(), nullable=True))
        batch.drop_index("ix_meter_values_station_ts")
        batch.create_index(
            "ux_meter_values_sample", ["station_id", "timestamp", "sample_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("meter_values") as batch:
        batch.drop_index("ux_meter_values_sample")
        batch.create_index("ix_meter_values_station_ts", ["station_id", "timestamp"])
        batch.drop_column("sample_key")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_index("ux_transactions_start_key")
        batch.drop_column("start_key")
        batch.drop_column("id_tag_info")
