"""Operator accounts and API tokens (admin only): ``/users`` and ``/tokens``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import Field

from watthub.api import present
from watthub.api.deps import get_hub
from watthub.api.present import ApiModel
from watthub.domain import accounts
from watthub.domain.invalidation import API_TOKENS, USERS
from watthub.storage import tokens_repo, users_repo

# Users and tokens hand out access: admins only, reads included.
ROLES = ("admin", "admin")

router = APIRouter(tags=["users and tokens"])

Role = Literal["viewer", "operator", "admin"]


class UserCreate(ApiModel):
    username: str = Field(min_length=1, max_length=64, pattern=accounts.USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=1024)
    role: Role


class UserChange(ApiModel):
    password: str | None = Field(None, min_length=1, max_length=1024)
    role: Role | None = None
    disabled: bool | None = None


class TokenCreate(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role


def _user_view(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "username": user["username"],
        "role": user["role"],
        "disabled": bool(user["disabled"]),
        "createdAt": present.row({"t": user["created_at"]})["t"],  # type: ignore[index]
    }


def _token_view(token: dict[str, Any]) -> dict[str, Any]:
    times = present.row({"c": token["created_at"], "u": token["last_used_at"]}) or {}
    return {
        "id": token["id"],
        "name": token["name"],
        "role": token["role"],
        "createdAt": times["c"],
        "lastUsedAt": times["u"],
    }


def _http(exc: accounts.AccountError) -> HTTPException:
    return HTTPException(exc.status_code, exc.message)


@router.get("/users", summary="Operator accounts")
async def list_users(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return [_user_view(u) for u in await users_repo.list_users(conn)]


@router.post("/users", status_code=201, summary="Create an operator account")
async def create_user(body: UserCreate, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    try:
        async with hub.services.engine.begin() as conn:
            await accounts.create_account(conn, body.username, body.password, body.role)
            user = await users_repo.get_user(conn, body.username)
    except accounts.AccountError as exc:
        raise _http(exc) from exc
    return _user_view(user)  # type: ignore[arg-type]


@router.get("/users/{username}", summary="One operator account")
async def get_user(username: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        user = await users_repo.get_user(conn, username)
    if user is None:
        raise HTTPException(404, f"There is no user {username}")
    return _user_view(user)


@router.patch(
    "/users/{username}",
    summary="Change a password, role or the disabled flag (a new password or disabling ends "
    "the user's sessions)",
)
async def change_user(
    username: str, body: UserChange, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    try:
        async with hub.services.engine.begin() as conn:
            await accounts.change_account(
                conn, username, password=body.password, role=body.role, disabled=body.disabled
            )
            user = await users_repo.get_user(conn, username)
    except accounts.AccountError as exc:
        raise _http(exc) from exc
    hub.services.invalidation.publish(USERS, username)
    return _user_view(user)  # type: ignore[arg-type]


@router.delete("/users/{username}", status_code=204, summary="Remove an operator account")
async def delete_user(username: str, hub: Any = Depends(get_hub)) -> None:
    try:
        async with hub.services.engine.begin() as conn:
            await accounts.remove_account(conn, username)
    except accounts.AccountError as exc:
        raise _http(exc) from exc
    hub.services.invalidation.publish(USERS, username)


@router.get("/tokens", summary="API bearer tokens (names and roles; the secrets are not stored)")
async def list_tokens(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return [_token_view(t) for t in await tokens_repo.list_tokens(conn)]


@router.post(
    "/tokens", status_code=201, summary="Create a bearer token with a role (shown only once)"
)
async def create_token(body: TokenCreate, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    async with hub.services.engine.begin() as conn:
        secret = await tokens_repo.create_token(conn, body.name, role=body.role)
        created = await tokens_repo.describe_token(conn, secret)
    return _token_view(created) | {"token": secret}  # type: ignore[arg-type]


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a bearer token")
async def delete_token(token_id: int, hub: Any = Depends(get_hub)) -> None:
    async with hub.services.engine.begin() as conn:
        if not await tokens_repo.delete_token(conn, token_id):
            raise HTTPException(404, f"There is no token {token_id}")
    # The cache is keyed by the secret's hash, which we do not know here: drop all.
    hub.services.invalidation.publish(API_TOKENS, None)
