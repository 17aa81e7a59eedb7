"""Operator accounts, console sessions and the audit trail (docs/security.md, "Operator
accounts"). API tokens live in ``tables.api_tokens`` (with their ``role``)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from watthub.storage.tables import TS, BigId, metadata

ROLES = ("viewer", "operator", "admin")

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    # argon2id, PHC string format (security/user_passwords.py)
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    # SHA-256 of the cookie value: a database leak does not hand out live sessions.
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Index("ix_sessions_user", "user_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("created_at", TS, nullable=False),
    # "user" or "token", and the user name or token name
    Column("actor_kind", String(8), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("station_id", String(255)),
    # JSON of the request payload, secrets redacted, clipped
    Column("payload", Text, nullable=False, server_default=""),
    # "ok" (the station answered), "error" (refused before sending, not connected, timeout, CALLERROR)
    Column("result", String(16), nullable=False),
    Column("answer", Text, nullable=False, server_default=""),
    Index("ix_audit_log_station", "station_id", "id"),
    Index("ix_audit_log_actor", "actor", "id"),
)
