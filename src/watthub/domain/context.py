"""What a handler may use: the station it talks to and the shared services."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from watthub.config import Settings
from watthub.gateway import StationGateway
from watthub.observability.health import Health
from watthub.observability.metrics import Metrics
from watthub.storage.db import Read
from watthub.storage.writer import BatchWriter

if TYPE_CHECKING:
    from watthub.domain.events import EventBus
    from watthub.domain.invalidation import Invalidation
    from watthub.domain.leases import Leases
    from watthub.domain.tag_cache import TagCache


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    writer: BatchWriter
    gateway: StationGateway
    events: EventBus
    tags: TagCache
    # Hot-path reads (SQLiteReader.read, PgReader.read): ``await services.read(lambda conn: ...)``.
    read: Read
    # Registration status of the last boot, per connected station (Pending blocks remote start).
    registration: dict[str, str] = field(default_factory=dict)
    # Per-hub state and long-lived objects of feature modules, keyed by the feature's name.
    features: dict[str, Any] = field(default_factory=dict)
    # Cache invalidation across processes (domain/invalidation.py); set by WattHub.start.
    invalidation: Invalidation = field(default=None)  # type: ignore[assignment]
    # Counters and histograms of this process (GET /metrics) and its readiness checks.
    metrics: Metrics = field(default_factory=Metrics)
    health: Health = field(default_factory=Health)
    # Handshake state (server/station_cache.py, server/credentials.py); set by WattHub.start.
    station_cache: Any = None
    credentials: Any = None
    # Once-only work across nodes (domain/leases.py); set by WattHub.start.
    leases: Leases = field(default=None)  # type: ignore[assignment]


@dataclass
class StationContext:
    station_id: str
    services: Services
    station: dict[str, Any]
    log: logging.LoggerAdapter[logging.Logger]
    # Since the last BootNotification of this connection: its time, and the connectors that
    # have reported a status since (domain/transactions.py closes stale transactions on it).
    booted_at: datetime | None = None
    reported_since_boot: set[int] = field(default_factory=set)

    @property
    def settings(self) -> Settings:
        return self.services.settings
