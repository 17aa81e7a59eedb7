"""Shared dependencies: the running WattHub, role-based access, command error mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from watthub.api.authn import (
    CSRF_HEADER,
    NOT_AUTHENTICATED,
    ROLE_RANK,
    SAFE_METHODS,
    AuthError,
    Principal,
    authenticator,
    check_access,
)
from watthub.domain.commands import CommandError, send_command
from watthub.gateway import (
    ClusterUnavailable,
    StationCallError,
    StationNotConnected,
    StationTimeout,
)

if TYPE_CHECKING:
    from watthub.app import WattHub


_BEARER = HTTPBearer(auto_error=False)


def get_hub(request: Request) -> WattHub:
    return request.app.state.hub  # type: ignore[no-any-return]


class RequireRole:
    """Route dependency: the request is authenticated and its role suffices. Reads (GET, HEAD,
    OPTIONS) need ``read``, everything else ``write``.

    The guard middleware (api/guard.py) finds this dependency on the matched route and enforces
    it from the headers *before* any body is read; the dependency itself checks again (and
    authenticates if the middleware did not), so a route is never open by accident."""

    def __init__(self, write: str, read: str = "viewer") -> None:
        for role in (write, read):
            if role not in ROLE_RANK:
                raise ValueError(f"unknown role {role!r}")
        self.write = write
        self.read = read

    def role_for(self, method: str) -> str:
        return self.read if method in SAFE_METHODS else self.write

    async def __call__(
        self,
        request: Request,
        # Not read here (the guard did); declares the bearer scheme in OpenAPI (/docs "Authorize").
        _bearer: HTTPAuthorizationCredentials | None = Depends(_BEARER),
    ) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        try:
            if principal is None:
                principal = await authenticator(request.app).authenticate(
                    request.headers.get("authorization"), request.headers.get("cookie")
                )
                if principal is None:
                    raise AuthError(401, NOT_AUTHENTICATED, {"WWW-Authenticate": "Bearer"})
                request.state.principal = principal
            check_access(
                principal,
                request.method,
                self.role_for(request.method),
                request.headers.get(CSRF_HEADER),
            )
        except AuthError as exc:
            raise HTTPException(exc.status, exc.detail, headers=exc.headers) from exc
        return principal


def require_role(write: str, read: str = "viewer") -> RequireRole:
    """``dependencies=[Depends(require_role("operator"))]``: see :class:`RequireRole`."""
    return RequireRole(write, read)


# Any authenticated principal (reads and writes alike); kept for route modules that predate roles.
require_token = RequireRole("viewer", "viewer")


async def upload_body() -> None:
    """Marker dependency: this route accepts file uploads up to ``max_upload_bytes``; every
    other route's body is capped at ``api_max_body_bytes`` (api/guard.py)."""


def current_principal(request: Request) -> Principal:
    """The authenticated principal (the route must carry a ``require_role`` dependency)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise HTTPException(401, NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
    return principal


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
