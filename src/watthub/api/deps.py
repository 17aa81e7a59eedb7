"""Shared dependencies: the running WattHub, bearer-token auth, command error mapping."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from watthub.domain.commands import CommandError, send_command
from watthub.gateway import (
    ClusterUnavailable,
    StationCallError,
    StationNotConnected,
    StationTimeout,
)
from watthub.storage import tokens_repo

if TYPE_CHECKING:
    from watthub.app import WattHub

_bearer = HTTPBearer(auto_error=False)
_TOKEN_CACHE_SECONDS = 60.0


def get_hub(request: Request) -> WattHub:
    return request.app.state.hub  # type: ignore[no-any-return]


async def require_token(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "Missing bearer token (create one with `watthub token create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = credentials.credentials
    cache: dict[str, tuple[str, float]] = request.app.state.token_cache
    hit = cache.get(token)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    hub = get_hub(request)
    async with hub.services.engine.begin() as conn:
        name = await tokens_repo.check_token(conn, token)
    if name is None:
        raise HTTPException(401, "Invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
    cache[token] = (name, time.monotonic() + _TOKEN_CACHE_SECONDS)
    return name


async def run_command(
    hub: WattHub,
    station_id: str,
    action: str,
    payload: dict[str, Any],
    timeout: float | None = None,
) -> dict[str, Any]:
    """Send a command and turn what can go wrong into HTTP answers."""
    try:
        return await send_command(hub.services, station_id, action, payload, timeout=timeout)
    except CommandError as exc:
        raise HTTPException(exc.status_code, exc.message) from exc
    except StationNotConnected as exc:
        raise HTTPException(409, str(exc)) from exc
    except StationTimeout as exc:
        raise HTTPException(504, str(exc)) from exc
    except ClusterUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except StationCallError as exc:
        raise HTTPException(
            502,
            {
                "message": f"The station answered {action} with a CALLERROR",
                "errorCode": exc.code,
                "errorDescription": exc.description,
                "errorDetails": exc.details,
            },
        ) from exc
