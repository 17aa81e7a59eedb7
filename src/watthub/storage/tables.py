"""Table definitions (SQLAlchemy Core: the hot path builds plain statements, no ORM unit of work).

Every schema change goes through an Alembic migration in ``storage/migrations/versions``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

stations = Table(
    "stations",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("password_hash", String(255)),
    Column("boot_policy", String(16), nullable=False, server_default="Accepted"),
    Column("heartbeat_interval", Integer),
    Column("validation_policy", String(16), nullable=False, server_default="strict"),
    # 0 = unsecured (ws://, no auth), 1 = ws:// + Basic auth, 2 = wss:// + Basic auth,
    # 3 = wss:// with a client certificate (docs/security.md).
    Column("security_profile", Integer, nullable=False, server_default="0"),
    Column("signed_firmware_only", Boolean, nullable=False, server_default="0"),
    Column("registration_status", String(16)),
    Column("vendor", String(20)),
    Column("model", String(20)),
    Column("serial_number", String(25)),
    Column("charge_box_serial_number", String(25)),
    Column("firmware_version", String(50)),
    Column("iccid", String(20)),
    Column("imsi", String(20)),
    Column("meter_type", String(25)),
    Column("meter_serial_number", String(25)),
    Column("last_boot_at", TS),
    Column("last_seen_at", TS),
    Column("connected_since", TS),
    Column("connected_node", String(64)),
    Column("created_at", TS, nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column(
        "station_id", String(255), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(32)),
    Column("error_code", String(32)),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("status_at", TS),
    Column("updated_at", TS),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("error_code", String(32), nullable=False),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("status_at", TS, nullable=False),
    Column("received_at", TS, nullable=False),
    # A station's history, newest first (migration 0601).
    Index("ix_status_history_station", "station_id", "id"),
)
# A status that reports a fault. Literal, not bound: a partial index serves a query only when
# the query's condition contains the index's own, values included (both databases).
STATUS_FAULT = text("status = 'Faulted' OR error_code <> 'NoError'")
# The faults only (the console's recent events): rare, so nearly free to keep.
Index(
    "ix_status_history_faults",
    status_history.c.id,
    sqlite_where=STATUS_FAULT,
    postgresql_where=STATUS_FAULT,
)

id_tags = Table(
    "id_tags",
    metadata,
    Column("id_tag", String(20), primary_key=True),
    # idTags compare case-insensitively (spec §7.28, errata §3.74); this column is unique.
    Column("id_tag_norm", String(20), nullable=False, unique=True),
    Column("status", String(16), nullable=False, server_default="Accepted"),
    Column("expiry_date", TS),
    Column("parent_id_tag", String(20)),
    Column("allow_concurrent_tx", Boolean, nullable=False, server_default="0"),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(20), nullable=False),
    Column("id_tag_status", String(16), nullable=False),
    # The whole idTagInfo answered at the start: a redelivered StartTransaction gets it again,
    # not a new verdict (NULL for transactions stored before migration 0511).
    Column("id_tag_info", JSON),
    Column("meter_start", BigInteger, nullable=False),
    Column("start_time", TS, nullable=False),
    Column("reservation_id", Integer),
    Column("meter_stop", BigInteger),
    Column("stop_time", TS),
    Column("stop_reason", String(32)),
    Column("stop_id_tag", String(20)),
    # Anomalies seen while processing (repeated stop, unknown id, ...): flagged, never fatal.
    Column("flags", Text, nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    Column("stop_received_at", TS),
    # The content of the StartTransaction (connector, timestamp, meterStart, idTag): OCPP gives a
    # redelivered message no idempotency key, so its content is the key (domain/transactions.py).
    Column("start_key", String(128)),
    Index("ix_transactions_station_start", "station_id", "start_time"),
    Index("ux_transactions_start_key", "station_id", "start_key", unique=True),
)
# The open transaction of a connector (StartTransaction, stale-transaction checks), only the open
# ones: the index stays as small as the running sessions (migration 0581).
Index(
    "ix_transactions_open_connector",
    transactions.c.station_id,
    transactions.c.connector_id,
    sqlite_where=transactions.c.stop_time.is_(None),
    postgresql_where=transactions.c.stop_time.is_(None),
)
# The open transactions of an idTag (StartTransaction: does the tag charge elsewhere?). Without it
# that question read every open transaction of the network: 0.27 ms of PostgreSQL per start with
# 500 open, a quarter of its time in the benchmark's mix, and growing with the network.
Index(
    "ix_transactions_open_tag",
    func.lower(transactions.c.id_tag),
    sqlite_where=transactions.c.stop_time.is_(None),
    postgresql_where=transactions.c.stop_time.is_(None),
)

meter_readings = Table(
    "meter_readings",
    metadata,
    # One row per meterValue element of a MeterValues (or StopTransaction transactionData): its
    # sampled values as one JSON text. A row per sampled value cost nine rows and eighteen index
    # entries per message (issue #12); no reader looks into the samples in SQL.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_id", BigInteger, index=True),
    Column("timestamp", TS, nullable=False),
    Column("source", String(24), nullable=False, server_default="MeterValues"),
    # Identifies an element of one message (a checksum of the message plus the element's
    # position): a redelivered message inserts nothing (ON CONFLICT DO NOTHING). The unique
    # index leads with the time: readings arrive at about "now" and share its newest leaves,
    # where a station-first key put every message in a leaf of its own (migration 0571).
    Column("reading_key", BigInteger),
    # A JSON array of OCPP SampledValue objects, attributes as normalized when received
    # (measurand and context defaults filled in, strings cut to METER_SAMPLE_LIMITS; absent
    # attributes left out): [{"value": "1520", "context": "Sample.Periodic", ...}, ...].
    Column("sampled_values", Text, nullable=False),
    Index("ux_meter_readings_key", "timestamp", "station_id", "reading_key", unique=True),
)

# How long each attribute of a sampled value may be (the columns of the per-sample table before
# migration 0531): a longer string from a lenient station is cut to this.
METER_SAMPLE_LIMITS = {
    "value": 64,
    "measurand": 64,
    "phase": 8,
    "unit": 16,
    "context": 32,
    "location": 16,
    "format": 16,
}

stop_anomalies = Table(
    "stop_anomalies",
    metadata,
    # StopTransactions that matched no usable transaction (unknown id, -1, ...): kept for audit.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("transaction_id", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", TS, nullable=False),
)

message_log = Table(
    "message_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("direction", String(3), nullable=False),  # "in" (from station) / "out"
    Column("message_type", Integer, nullable=False),
    Column("action", String(64)),
    Column("message_id", String(64)),
    Column("payload", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    # An inbound exchange (the station's CALL and our answer) is one row: the answer's message
    # type (3 CALLRESULT / 4 CALLERROR), its frame, and when it was sent (µs after created_at).
    # NULL: the row is one frame (anything else, or a CALL that was never answered).
    Column("answer_type", Integer),
    Column("answer_payload", Text),
    Column("answer_delay_us", BigInteger),
    # A station's messages, newest first (migration 0591).
    Index("ix_message_log_station_id", "station_id", "id"),
)

station_configuration = Table(
    "station_configuration",
    metadata,
    Column(
        "station_id", String(255), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("key", String(50), primary_key=True),
    Column("value", Text),
    Column("readonly", Boolean),
    Column("known", Boolean, nullable=False, server_default="1"),
    Column("updated_at", TS, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    # viewer / operator / admin (tables_auth.ROLES); tokens from before roles became admin.
    Column("role", String(16), nullable=False, server_default="admin"),
    Column("created_at", TS, nullable=False),
    Column("last_used_at", TS),
)

validation_events = Table(
    "validation_events",
    metadata,
    # Schema violations let through under the lenient policy: logged and counted.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False, index=True),
    Column("action", String(64), nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", TS, nullable=False),
)
