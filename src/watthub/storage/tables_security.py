"""Security whitepaper tables: security events, profile audit, certificates, logs, signed firmware."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Index, Integer, String, Table, Text

from watthub.storage.tables import TS, BigId, metadata

security_events = Table(
    "security_events",
    metadata,
    # source "station": SecurityEventNotification; "csms": a connection WattHub refused.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("source", String(8), nullable=False),
    Column("type", String(64), nullable=False),
    Column("critical", Boolean, nullable=False, server_default="0"),
    Column("tech_info", Text),
    Column("event_time", TS, nullable=False),
    Column("received_at", TS, nullable=False),
    Index("ix_security_events_station_time", "station_id", "received_at"),
)

security_profile_changes = Table(
    "security_profile_changes",
    metadata,
    # Audit trail: every change of a station's profile, by OCPP (upgrade only) or an operator.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("old_profile", Integer, nullable=False),
    Column("new_profile", Integer, nullable=False),
    Column("via", String(16), nullable=False),  # "ocpp" | "operator"
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
)

station_certificates = Table(
    "station_certificates",
    metadata,
    # Root certificates installed on a station (InstallCertificate / GetInstalledCertificateIds).
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("certificate_type", String(64), nullable=False),
    Column("hash_algorithm", String(8)),
    Column("issuer_name_hash", String(128)),
    Column("issuer_key_hash", String(128)),
    Column("serial_number", String(40), nullable=False),
    Column("certificate", Text),
    Column("subject", Text),
    Column("not_after", TS),
    Column("updated_at", TS, nullable=False),
)

issued_certificates = Table(
    "issued_certificates",
    metadata,
    # ChargePointCertificates WattHub signed (SignCertificate → CertificateSigned).
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("serial_number", String(40), nullable=False),
    Column("subject", Text, nullable=False),
    Column("not_after", TS, nullable=False),
    Column("certificate_chain", Text, nullable=False),
    Column("status", String(16), nullable=False),  # Sent, Accepted, Rejected, Failed
    Column("detail", Text),
    Column("created_at", TS, nullable=False),
)

log_requests = Table(
    "log_requests",
    metadata,
    # GetLog requests and the LogStatusNotifications that follow.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("request_id", Integer, nullable=False),
    Column("log_type", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("answer", String(24)),
    Column("filename", String(255)),
    Column("status", String(32)),
    Column("history", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

signed_firmware_updates = Table(
    "signed_firmware_updates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("request_id", Integer, nullable=False),
    Column("location", Text, nullable=False),
    Column("signing_certificate", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Column("answer", String(24)),
    Column("status", String(32)),
    Column("history", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)
