"""security whitepaper: profiles, security events, certificates, logs, signed firmware

Revision ID: 0401
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0401"
down_revision = "0101"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.alter_column(
            "security_profile", existing_type=sa.Integer(), server_default="0", nullable=False
        )
        batch.add_column(
            sa.Column("signed_firmware_only", sa.Boolean(), nullable=False, server_default="0")
        )
    # Profile 0 = no authentication: what a station without a password had until now.
    op.execute("UPDATE stations SET security_profile = 0 WHERE password_hash IS NULL")
    op.execute("UPDATE stations SET security_profile = 1 WHERE password_hash IS NOT NULL")

    op.create_table(
        "security_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("tech_info", sa.Text(), nullable=True),
        sa.Column("event_time", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index(
        "ix_security_events_station_time", "security_events", ["station_id", "received_at"]
    )
    op.create_table(
        "security_profile_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("old_profile", sa.Integer(), nullable=False),
        sa.Column("new_profile", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_profile_changes")),
    )
    op.create_index(
        op.f("ix_security_profile_changes_station_id"),
        "security_profile_changes",
        ["station_id"],
    )
    op.create_table(
        "station_certificates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("certificate_type", sa.String(64), nullable=False),
        sa.Column("hash_algorithm", sa.String(8), nullable=True),
        sa.Column("issuer_name_hash", sa.String(128), nullable=True),
        sa.Column("issuer_key_hash", sa.String(128), nullable=True),
        sa.Column("serial_number", sa.String(40), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("not_after", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_certificates")),
    )
    op.create_index(
        op.f("ix_station_certificates_station_id"), "station_certificates", ["station_id"]
    )
    op.create_table(
        "issued_certificates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("serial_number", sa.String(40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("not_after", TS, nullable=False),
        sa.Column("certificate_chain", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_certificates")),
    )
    op.create_index(
        op.f("ix_issued_certificates_station_id"), "issued_certificates", ["station_id"]
    )
    for table in ("log_requests", "signed_firmware_updates"):
        extra = (
            [
                sa.Column("log_type", sa.String(16), nullable=False),
                sa.Column("location", sa.Text(), nullable=False),
                sa.Column("answer", sa.String(24), nullable=True),
                sa.Column("filename", sa.String(255), nullable=True),
            ]
            if table == "log_requests"
            else [
                sa.Column("location", sa.Text(), nullable=False),
                sa.Column("signing_certificate", sa.Text(), nullable=False),
                sa.Column("signature", sa.Text(), nullable=False),
                sa.Column("answer", sa.String(24), nullable=True),
            ]
        )
        op.create_table(
            table,
            sa.Column("id", BigId, autoincrement=True, nullable=False),
            sa.Column("station_id", sa.String(255), nullable=False),
            sa.Column("request_id", sa.Integer(), nullable=False),
            *extra,
            sa.Column("status", sa.String(32), nullable=True),
            sa.Column("history", sa.JSON(), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("updated_at", TS, nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_station_id"), table, ["station_id"])


def downgrade() -> None:
    for table in (
        "signed_firmware_updates",
        "log_requests",
        "issued_certificates",
        "station_certificates",
        "security_profile_changes",
        "security_events",
    ):
        op.drop_table(table)
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("signed_firmware_only")
        batch.alter_column(
            "security_profile", existing_type=sa.Integer(), server_default="1", nullable=False
        )
