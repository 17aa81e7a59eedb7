"""firmware management: images, status history, requests, diagnostics files, campaigns

Revision ID: 0101
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101"
down_revision = "0301"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", _ID, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "firmware_images",
        _id(),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("version", sa.String(50), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_images")),
        sa.UniqueConstraint("token", name=op.f("uq_firmware_images_token")),
    )
    op.create_table(
        "firmware_status_events",
        _id(),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_status_events")),
    )
    op.create_index(
        "ix_firmware_status_events_station",
        "firmware_status_events",
        ["station_id", "kind", "id"],
    )
    op.create_table(
        "firmware_updates",
        _id(),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("retrieve_date", _TS, nullable=False),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval", sa.Integer(), nullable=True),
        sa.Column("firmware_image_id", sa.BigInteger(), nullable=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("version_before", sa.String(50), nullable=True),
        sa.Column("version_after", sa.String(50), nullable=True),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("sent_at", _TS, nullable=False),
        sa.Column("booted_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_updates")),
    )
    op.create_index(op.f("ix_firmware_updates_station_id"), "firmware_updates", ["station_id"])
    op.create_table(
        "diagnostics_requests",
        _id(),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("token", sa.String(64), nullable=True),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("ftp_user", sa.String(64), nullable=True),
        sa.Column("ftp_password", sa.String(64), nullable=True),
        sa.Column("start_time", _TS, nullable=True),
        sa.Column("stop_time", _TS, nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("answered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("requested_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diagnostics_requests")),
        sa.UniqueConstraint("token", name=op.f("uq_diagnostics_requests_token")),
    )
    op.create_index(
        op.f("ix_diagnostics_requests_station_id"), "diagnostics_requests", ["station_id"]
    )
    op.create_table(
        "diagnostics_files",
        _id(),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diagnostics_files")),
    )
    op.create_index(op.f("ix_diagnostics_files_station_id"), "diagnostics_files", ["station_id"])
    op.create_table(
        "firmware_campaigns",
        _id(),
        sa.Column("name", sa.String(100), server_default="", nullable=False),
        sa.Column("firmware_image_id", sa.BigInteger(), nullable=True),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("expected_version", sa.String(50), nullable=True),
        sa.Column("retrieve_date", _TS, nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval", sa.Integer(), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("station_timeout", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_campaigns")),
    )
    op.create_table(
        "firmware_campaign_stations",
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["firmware_campaigns.id"],
            name=op.f("fk_firmware_campaign_stations_campaign_id_firmware_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "station_id", name=op.f("pk_firmware_campaign_stations")
        ),
    )
    op.create_index(
        "ix_firmware_campaign_stations_station",
        "firmware_campaign_stations",
        ["station_id", "state"],
    )


def downgrade() -> None:
    op.drop_index("ix_firmware_campaign_stations_station", "firmware_campaign_stations")
    op.drop_table("firmware_campaign_stations")
    op.drop_table("firmware_campaigns")
    op.drop_index(op.f("ix_diagnostics_files_station_id"), "diagnostics_files")
    op.drop_table("diagnostics_files")
    op.drop_index(op.f("ix_diagnostics_requests_station_id"), "diagnostics_requests")
    op.drop_table("diagnostics_requests")
    op.drop_index(op.f("ix_firmware_updates_station_id"), "firmware_updates")
    op.drop_table("firmware_updates")
    op.drop_index("ix_firmware_status_events_station", "firmware_status_events")
    op.drop_table("firmware_status_events")
    op.drop_table("firmware_images")
