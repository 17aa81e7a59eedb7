"""smart charging: profile library, installed profiles, sites

Revision ID: 0301
Revises: 0001
Create Date: 2026-11-25 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0301"
down_revision = "0201"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "charging_profiles",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_profiles")),
    )
    op.create_table(
        "installed_charging_profiles",
        sa.Column("seq", _ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("charging_profile_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("transaction_id", _ID, nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("installed_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_installed_charging_profiles_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_installed_charging_profiles")),
    )
    op.create_index(
        op.f("ix_installed_charging_profiles_station_id"),
        "installed_charging_profiles",
        ["station_id"],
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("limit", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=1), server_default="A", nullable=False),
        sa.Column("min_per_connector", sa.Float(), server_default="0", nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_table(
        "site_stations",
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("site_id", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_stations_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_site_stations_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_site_stations")),
    )
    op.create_table(
        "site_allocations",
        sa.Column("transaction_id", _ID, autoincrement=False, nullable=False),
        sa.Column("site_id", sa.String(length=100), nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("limit", sa.Float(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_allocations_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_site_allocations")),
    )


def downgrade() -> None:
    op.drop_table("site_allocations")
    op.drop_table("site_stations")
    op.drop_table("sites")
    op.drop_index(
        op.f("ix_installed_charging_profiles_station_id"), table_name="installed_charging_profiles"
    )
    op.drop_table("installed_charging_profiles")
    op.drop_table("charging_profiles")
