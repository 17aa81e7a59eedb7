"""Deciding an idTagInfo: used by Authorize, StartTransaction and StopTransaction (the station
updates its authorization cache from all three, spec §3.5.1) and by the local list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.timeutil import as_utc, format_ts, utcnow

if TYPE_CHECKING:
    from watthub.domain.context import Services


@dataclass(slots=True)
class AuthRequest:
    """What a hook may need to refine a decision (reservations look at the connector)."""

    station_id: str
    id_tag: str
    action: str  # Authorize | StartTransaction | StopTransaction
    connector_id: int | None = None
    reservation_id: int | None = None


# Hooks may refine the decision, e.g. the reservation profile refusing a tag on a connector
# reserved for someone else. They run in registration order on the same connection.
AuthHook = Callable[
    ["Services", AsyncConnection | None, AuthRequest, dict[str, Any]], Awaitable[dict[str, Any]]
]
AUTH_HOOKS: list[AuthHook] = []

# Run inside the StartTransaction write, after the transaction row is inserted, with the final
# verdict (ConcurrentTx included) and the new transactionId: bookkeeping that must only happen
# for an Accepted start (a reservation becoming used) belongs here, not in an AUTH_HOOK.
StartedHook = Callable[[AsyncConnection, AuthRequest, dict[str, Any], int], Awaitable[None]]
STARTED_HOOKS: list[StartedHook] = []


def tag_info(tag: dict[str, Any] | None) -> dict[str, Any]:
    """idTagInfo for a stored tag; unknown → Invalid; an expiry in the past → Expired."""
    if tag is None:
        return {"status": "Invalid"}
    status = tag["status"]
    expiry = as_utc(tag["expiry_date"])
    if status == "Accepted" and expiry is not None and expiry <= utcnow():
        status = "Expired"
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiryDate"] = format_ts(expiry)
    if tag["parent_id_tag"] and status == "Accepted":
        info["parentIdTag"] = tag["parent_id_tag"]
    return info


async def decide(
    conn: AsyncConnection | None, request: AuthRequest, services: Services
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The idTagInfo for ``request``. ``conn`` is the write's connection inside a write
    (StartTransaction, StopTransaction) and ``None`` for Authorize, which needs no connection
    when the tag is cached; hooks that look at the database act on StartTransaction only."""
    tag = await services.tags.get(request.id_tag, conn)
    info = tag_info(tag)
    for hook in AUTH_HOOKS:
        info = await hook(services, conn, request, info)
    return info, tag
