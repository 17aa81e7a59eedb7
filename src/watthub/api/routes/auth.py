"""Console login: ``POST /auth/login`` sets the ``watthub_session`` cookie, ``GET /auth/me``
tells who is logged in (and the CSRF token to send as ``X-CSRF-Token`` with every change),
``POST /auth/logout`` ends the session. Bearer-token clients need none of this."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from watthub.api.authn import SESSION_COOKIE, AuthError, Principal, authenticator
from watthub.api.deps import current_principal, require_role
from watthub.api.present import ApiModel

# Login is public; me/logout declare their own requirement (any role).
ROLES = None

router = APIRouter(tags=["auth"])
_any_user = [Depends(require_role("viewer", "viewer"))]


class Login(ApiModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _view(principal: Principal) -> dict[str, Any]:
    user = {"username": principal.name, "role": principal.role}
    if principal.kind == "token":
        user["kind"] = "token"
    return {"user": user, "csrfToken": principal.csrf_token}


def _secure(request: Request) -> bool:
    mode = request.app.state.hub.settings.session_cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


@router.post(
    "/auth/login",
    summary="Log in with a user name and password; sets the session cookie",
    responses={
        401: {"description": "Wrong user name or password"},
        429: {"description": "Too many failed logins"},
    },
)
async def login(body: Login, request: Request) -> JSONResponse:
    address = request.client.host if request.client else "unknown"
    try:
        principal, session_id = await authenticator(request.app).login(
            body.username, body.password, address
        )
    except AuthError as exc:
        return JSONResponse({"detail": exc.detail}, exc.status, headers=exc.headers)
    response = JSONResponse(_view(principal))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(request.app.state.hub.settings.session_max_age),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/auth/me", summary="Who is logged in, and the CSRF token", dependencies=_any_user)
async def me(principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    return _view(principal)


@router.post(
    "/auth/logout", status_code=204, summary="End the console session", dependencies=_any_user
)
async def logout(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    if principal.session_hash is not None:
        await authenticator(request.app).end_session(principal.session_hash)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )
    return response
