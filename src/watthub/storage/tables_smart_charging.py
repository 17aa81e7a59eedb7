"""Smart Charging tables: the operator's profile library, what each station has accepted, and
site power limits with their current allocation."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Integer, String, Table, Text

from watthub.storage.tables import TS, BigId, metadata

# Reusable profiles; ``id`` is also the chargingProfileId sent to stations.
charging_profiles = Table(
    "charging_profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False, server_default=""),
    Column("purpose", String(32), nullable=False),
    Column("stack_level", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    # csChargingProfiles exactly as sent (chargingProfileId = id, never a transactionId).
    Column("profile", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# The profiles a station has accepted (InstalledProfiles semantics); ``seq`` keeps the
# installation order, which decides stack-level ties in the composite calculation.
installed_charging_profiles = Table(
    "installed_charging_profiles",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column(
        "station_id",
        String(255),
        ForeignKey("stations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("connector_id", Integer, nullable=False),
    Column("charging_profile_id", Integer, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("stack_level", Integer, nullable=False),
    Column("transaction_id", BigId),
    Column("profile", JSON, nullable=False),
    Column("installed_at", TS, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("limit", Float, nullable=False),
    Column("unit", String(1), nullable=False, server_default="A"),
    Column("min_per_connector", Float, nullable=False, server_default="0"),
    Column("stack_level", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # What one connector may draw at most; a transaction whose station refuses its limit is
    # counted at this (None: at the whole site limit, the only safe assumption).
    Column("max_per_connector", Float),
)

site_stations = Table(
    "site_stations",
    metadata,
    Column(
        "station_id", String(255), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("site_id", String(100), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
)

# What WattHub last sent (and the station accepted) per transaction of a site.
site_allocations = Table(
    "site_allocations",
    metadata,
    Column("transaction_id", BigId, primary_key=True, autoincrement=False),
    Column("site_id", String(100), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("limit", Float, nullable=False),
    Column("updated_at", TS, nullable=False),
    # The station refused the site's limit: ``limit`` is what it is assumed to draw.
    Column("refused", Boolean, nullable=False, server_default="0"),
)
