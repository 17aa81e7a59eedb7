"""Operator accounts, console sessions, CSRF, roles of users and tokens (docs/security.md)."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import httpx

from tests.conftest import Csms
from watthub.storage import users_repo


async def add_user(csms: Csms, username: str, role: str, password: str = "correct horse") -> None:
    response = await csms.api.post(
        "/users", json={"username": username, "password": password, "role": role}
    )
    assert response.status_code == 201, response.text


async def login(
    csms: Csms, username: str, password: str = "correct horse"
) -> tuple[httpx.AsyncClient, str]:
    """A cookie-carrying client logged in as ``username`` and its CSRF token."""
    client = httpx.AsyncClient(base_url=csms.api_base, timeout=30)
    response = await client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return client, response.json()["csrfToken"]


async def test_login_me_logout(csms: Csms) -> None:
    await add_user(csms, "olivia", "operator")
    async with httpx.AsyncClient(base_url=csms.api_base) as client:
        response = await client.post(
            "/auth/login", json={"username": "olivia", "password": "correct horse"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"] == {"username": "olivia", "role": "operator"}
        csrf = body["csrfToken"]
        assert len(csrf) >= 32
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("watthub_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert "Secure" not in cookie  # plain http here; Secure when served over https
        # The stored session id is a hash, never the cookie value itself.
        session_id = client.cookies["watthub_session"]
        async with csms.hub.services.engine.connect() as conn:
            assert await users_repo.get_session(conn, session_id) is None
            assert await users_repo.get_session(conn, users_repo.hash_session_id(session_id))

        me = await client.get("/auth/me")
        assert me.status_code == 200
        assert me.json() == {"user": {"username": "olivia", "role": "operator"}, "csrfToken": csrf}
        assert (await client.get("/stations")).status_code == 200

        # Logging out needs the CSRF token like every change.
        refused = await client.post("/auth/logout")
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["detail"]
        out = await client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        # The browser drops the cookie; a copy of it no longer works either.
        client.cookies.set("watthub_session", session_id)
        after = await client.get("/auth/me")
        assert after.status_code == 401
        assert "log in" in after.json()["detail"]


async def test_csrf_token_required_for_changes_by_cookie(csms: Csms) -> None:
    await add_user(csms, "olivia", "operator")
    client, csrf = await login(csms, "olivia")
    async with aclosing(client):
        missing = await client.post("/stations", json={"id": "CP9"})
        wrong = await client.post("/stations", json={"id": "CP9"}, headers={"X-CSRF-Token": "x"})
        for response in (missing, wrong):
            assert response.status_code == 403, response.text
            assert "X-CSRF-Token" in response.json()["detail"]
        assert (await csms.api.get("/stations/CP9")).status_code == 404
        ok = await client.post("/stations", json={"id": "CP9"}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201, ok.text
    # Bearer tokens need no CSRF token (not sent by browsers on their own).
    assert (await csms.api.post("/stations", json={"id": "CP10"})).status_code == 201


async def test_wrong_password_401_then_429(csms: Csms) -> None:
    await add_user(csms, "olivia", "viewer")
    limit = csms.hub.settings.login_max_failures
    async with httpx.AsyncClient(base_url=csms.api_base) as client:
        for _ in range(limit):
            wrong = await client.post(
                "/auth/login", json={"username": "olivia", "password": "wrong password"}
            )
            assert wrong.status_code == 401
            assert wrong.json() == {"detail": "Wrong user name or password"}
        blocked = await client.post(
            "/auth/login", json={"username": "olivia", "password": "wrong password"}
        )
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0
        assert "Too many failed logins" in blocked.json()["detail"]
        # Even the right password waits: the limit is what stops guessing.
        right = await client.post(
            "/auth/login", json={"username": "olivia", "password": "correct horse"}
        )
        assert right.status_code == 429
        # An unknown user name answers like a wrong password.
        unknown = await client.post(
            "/auth/login", json={"username": "nobody", "password": "correct horse"}
        )
        assert unknown.status_code == 401
        assert unknown.json() == wrong.json()


async def test_session_idle_and_absolute_expiry(csms: Csms) -> None:
    await add_user(csms, "olivia", "viewer")
    settings = csms.hub.settings
    client, _csrf = await login(csms, "olivia")
    async with aclosing(client):
        assert (await client.get("/auth/me")).status_code == 200
        settings.session_idle_timeout = 0.5
        await asyncio.sleep(0.8)
        expired = await client.get("/auth/me")
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"]
    settings.session_idle_timeout = 3600
    settings.session_max_age = 0.5
    client, _csrf = await login(csms, "olivia")
    async with aclosing(client):
        await asyncio.sleep(0.8)
        assert (await client.get("/auth/me")).status_code == 401


async def test_roles_of_users(csms: Csms, station: Any) -> None:
    await add_user(csms, "vic", "viewer")
    await add_user(csms, "olivia", "operator")
    viewer, viewer_csrf = await login(csms, "vic")
    operator, operator_csrf = await login(csms, "olivia")
    async with aclosing(viewer), aclosing(operator):
        # Viewers read everything but change nothing: no command reaches the station.
        assert (await viewer.get("/stations/CP1")).status_code == 200
        refused = await viewer.post(
            "/stations/CP1/ocpp/Reset", json={"type": "Soft"}, headers={"X-CSRF-Token": viewer_csrf}
        )
        assert refused.status_code == 403
        assert refused.json()["detail"] == "The user 'vic' has the role viewer; this needs operator"
        assert station.sent("Reset") == []
        sent = await operator.post(
            "/stations/CP1/ocpp/Reset",
            json={"type": "Soft"},
            headers={"X-CSRF-Token": operator_csrf},
        )
        assert sent.status_code == 200, sent.text
        # Users and tokens are for admins only, reading included.
        for client, csrf in ((viewer, viewer_csrf), (operator, operator_csrf)):
            assert (await client.get("/users")).status_code == 403
            assert (await client.get("/tokens")).status_code == 403
            made = await client.post(
                "/users",
                json={"username": "mallory", "password": "x" * 12, "role": "admin"},
                headers={"X-CSRF-Token": csrf},
            )
            assert made.status_code == 403
    users = (await csms.api.get("/users")).json()
    assert {u["username"]: u["role"] for u in users} == {
        "admin": "admin",
        "olivia": "operator",
        "vic": "viewer",
    }


async def test_token_roles_and_revocation(csms: Csms) -> None:
    made = await csms.api.post("/tokens", json={"name": "dashboard", "role": "viewer"})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert made.json()["role"] == "viewer"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=csms.api_base, headers=headers) as client:
        assert (await client.get("/stations")).status_code == 200
        refused = await client.post("/stations", json={"id": "CP1"})
        assert refused.status_code == 403
        assert "role viewer" in refused.json()["detail"]
        me = (await client.get("/auth/me")).json()
        assert me["user"] == {"username": "dashboard", "role": "viewer", "kind": "token"}
        listed = (await csms.api.get("/tokens")).json()
        assert [t["role"] for t in listed if t["name"] == "dashboard"] == ["viewer"]
        assert all("token" not in t and "tokenHash" not in t for t in listed)
        revoked = await csms.api.delete(f"/tokens/{made.json()['id']}")
        assert revoked.status_code == 204
        # Revocation drops the cached token at once (services.invalidation).
        gone = await client.get("/stations")
        assert gone.status_code == 401
        assert gone.json() == {"detail": "Invalid bearer token"}


async def test_user_changes_take_effect_at_once(csms: Csms) -> None:
    await add_user(csms, "olivia", "operator")
    client, csrf = await login(csms, "olivia")
    async with aclosing(client):
        assert (await client.get("/stations")).status_code == 200
        demoted = await csms.api.patch("/users/olivia", json={"role": "viewer"})
        assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
        refused = await client.post("/stations", json={"id": "CP1"}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
        # A new password ends the user's sessions.
        changed = await csms.api.patch("/users/olivia", json={"password": "a new password"})
        assert changed.status_code == 200
        assert (await client.get("/stations")).status_code == 401
    async with httpx.AsyncClient(base_url=csms.api_base) as client:
        old = await client.post(
            "/auth/login", json={"username": "olivia", "password": "correct horse"}
        )
        assert old.status_code == 401
        new = await client.post(
            "/auth/login", json={"username": "olivia", "password": "a new password"}
        )
        assert new.status_code == 200
        disabled = await csms.api.patch("/users/olivia", json={"disabled": True})
        assert disabled.json()["disabled"] is True
        assert (await client.get("/auth/me")).status_code == 401
    removed = await csms.api.delete("/users/olivia")
    assert removed.status_code == 204
    assert (await csms.api.get("/users/olivia")).status_code == 404


async def test_account_validation(csms: Csms) -> None:
    bad_name = await csms.api.post(
        "/users", json={"username": "a b", "password": "long enough", "role": "viewer"}
    )
    assert bad_name.status_code == 422
    short = await csms.api.post(
        "/users", json={"username": "bob", "password": "short", "role": "viewer"}
    )
    assert short.status_code == 422
    assert "at least 8 characters" in short.json()["detail"]
    bad_role = await csms.api.post(
        "/users", json={"username": "bob", "password": "long enough", "role": "root"}
    )
    assert bad_role.status_code == 422
    await add_user(csms, "bob", "viewer")
    again = await csms.api.post(
        "/users", json={"username": "bob", "password": "long enough", "role": "viewer"}
    )
    assert again.status_code == 409
    # The last enabled admin cannot be removed, demoted or disabled.
    for response in (
        await csms.api.delete("/users/admin"),
        await csms.api.patch("/users/admin", json={"role": "operator"}),
        await csms.api.patch("/users/admin", json={"disabled": True}),
    ):
        assert response.status_code == 409, response.text
        assert "last enabled admin" in response.json()["detail"]


async def test_session_cookie_is_secure_over_https(csms: Csms) -> None:
    await add_user(csms, "olivia", "viewer")
    credentials = {"username": "olivia", "password": "correct horse"}
    async with httpx.AsyncClient(base_url=csms.api_base) as client:
        # Behind a TLS-terminating proxy on a trusted address (uvicorn's forwarded_allow_ips).
        proxied = await client.post(
            "/auth/login", json=credentials, headers={"X-Forwarded-Proto": "https"}
        )
        assert proxied.status_code == 200
        assert "Secure" in proxied.headers["set-cookie"]
        csms.hub.settings.session_cookie_secure = "always"
        forced = await client.post("/auth/login", json=credentials)
        assert "Secure" in forced.headers["set-cookie"]
        csms.hub.settings.session_cookie_secure = "never"
        plain = await client.post(
            "/auth/login", json=credentials, headers={"X-Forwarded-Proto": "https"}
        )
        assert "Secure" not in plain.headers["set-cookie"]


async def test_openapi_declares_the_bearer_scheme(csms: Csms) -> None:
    spec = (await csms.api.get(csms.api_base.removesuffix("/api/v1") + "/openapi.json")).json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert spec["paths"]["/api/v1/stations"]["get"]["security"] == [{"HTTPBearer": []}]


async def test_changes_made_by_another_node_arrive_through_invalidation(csms: Csms) -> None:
    """What a cluster relay does: another node changed the database and published; this
    node's caches drop the entry on delivery instead of waiting for auth_cache_seconds."""
    from watthub.domain.invalidation import SESSIONS, USERS
    from watthub.storage import users_repo as repo

    await add_user(csms, "olivia", "operator")
    client, _csrf = await login(csms, "olivia")
    async with aclosing(client):
        assert (await client.get("/auth/me")).status_code == 200  # now cached
        id_hash = repo.hash_session_id(client.cookies["watthub_session"])
        async with csms.hub.services.engine.begin() as conn:
            await repo.delete_session(conn, id_hash)
        assert (await client.get("/auth/me")).status_code == 200  # still cached
        csms.hub.services.invalidation.deliver(SESSIONS, id_hash)
        assert (await client.get("/auth/me")).status_code == 401

    client, _csrf = await login(csms, "olivia")
    async with aclosing(client):
        assert (await client.get("/auth/me")).json()["user"]["role"] == "operator"
        async with csms.hub.services.engine.begin() as conn:
            await repo.update_user(conn, "olivia", role="viewer")
        csms.hub.services.invalidation.deliver(USERS, "olivia")
        assert (await client.get("/auth/me")).json()["user"]["role"] == "viewer"


async def test_unknown_fields_are_refused(csms: Csms) -> None:
    typo = await csms.api.post(
        "/users", json={"username": "bob", "password": "long enough", "role": "viewer", "admin": 1}
    )
    assert typo.status_code == 422
    async with httpx.AsyncClient(base_url=csms.api_base) as client:
        login = await client.post(
            "/auth/login", json={"username": "admin", "password": "x", "remember": True}
        )
    assert login.status_code == 422
