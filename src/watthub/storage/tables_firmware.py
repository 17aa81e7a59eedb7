"""Firmware Management profile: hosted firmware images, status history, UpdateFirmware and
GetDiagnostics requests, received diagnostics files and firmware campaigns."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from watthub.storage.tables import TS, BigId, metadata

firmware_images = Table(
    "firmware_images",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # The unguessable part of the public URL (/files/firmware/<token>/<filename>).
    Column("token", String(64), nullable=False, unique=True),
    Column("filename", String(255), nullable=False),
    Column("version", String(50)),
    Column("description", Text, nullable=False, server_default=""),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", Text, nullable=False),  # relative to settings.data_dir
    Column("created_at", TS, nullable=False),
)

# Every FirmwareStatusNotification / DiagnosticsStatusNotification, Idle included.
firmware_status_events = Table(
    "firmware_status_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # "firmware" | "diagnostics"
    Column("status", String(32), nullable=False),
    Column("received_at", TS, nullable=False),
    Index("ix_firmware_status_events_station", "station_id", "kind", "id"),
)

firmware_updates = Table(
    "firmware_updates",
    metadata,
    # One row per UpdateFirmware sent; the version reported at the next boot is filled in later.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("location", Text, nullable=False),
    Column("retrieve_date", TS, nullable=False),
    Column("retries", Integer),
    Column("retry_interval", Integer),
    Column("firmware_image_id", BigInteger),
    Column("campaign_id", BigInteger),
    Column("version_before", String(50)),
    Column("version_after", String(50)),
    Column("last_status", String(32)),
    Column("sent_at", TS, nullable=False),
    Column("booted_at", TS),
)

diagnostics_requests = Table(
    "diagnostics_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    # Set when the location is WattHub's own (HTTP upload URL or FTP account); else NULL.
    Column("token", String(64), unique=True),
    Column("transport", String(8), nullable=False),  # "http" | "ftp" | "external"
    Column("location", Text, nullable=False),
    Column("ftp_user", String(64)),
    Column("ftp_password", String(64)),  # one-off secret; it is in the sent location anyway
    Column("start_time", TS),
    Column("stop_time", TS),
    Column("retries", Integer),
    Column("retry_interval", Integer),
    Column("file_name", String(255)),  # from GetDiagnostics.conf
    Column("answered", Integer, nullable=False, server_default="0"),
    Column("last_status", String(32)),
    Column("requested_at", TS, nullable=False),
)

diagnostics_files = Table(
    "diagnostics_files",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("request_id", BigInteger),
    Column("filename", String(255), nullable=False),
    Column("path", Text, nullable=False),  # relative to settings.data_dir
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("transport", String(8), nullable=False),
    Column("received_at", TS, nullable=False),
)

firmware_campaigns = Table(
    "firmware_campaigns",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, server_default=""),
    Column("firmware_image_id", BigInteger),
    Column("location", Text, nullable=False),
    Column("expected_version", String(50)),
    Column("retrieve_date", TS),
    Column("retries", Integer),
    Column("retry_interval", Integer),
    Column("concurrency", Integer, nullable=False),
    Column("station_timeout", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # running | finished | cancelled
    Column("options", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS),
)

firmware_campaign_stations = Table(
    "firmware_campaign_stations",
    metadata,
    Column(
        "campaign_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("firmware_campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("station_id", String(255), primary_key=True),
    Column("position", Integer, nullable=False),
    # scheduled | sent | downloading | downloaded | installing | installed | failed | cancelled
    Column("state", String(16), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("last_status", String(32)),
    Column("sent_at", TS),
    Column("updated_at", TS, nullable=False),
    Index("ix_firmware_campaign_stations_station", "station_id", "state"),
)
