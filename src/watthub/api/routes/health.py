from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from watthub import __version__
from watthub.api.deps import get_hub

# Public: load balancers and monitoring probe it without credentials.
ROLES = None

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness, with the number of connected stations (no auth)")
async def health(hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": __version__,
        "node": hub.node_id,
        "connectedStations": len(hub.registry),
        "writeBacklog": hub.services.writer.backlog,
    }
