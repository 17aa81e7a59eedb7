"""``watthub user ...`` and ``watthub token create --role``: real subprocesses on SQLite."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from tests.api.test_cli import env, run, server  # noqa: F401  (fixtures)
from watthub.cli import main


def _cli(environ: dict[str, str], *args: str, ok: bool = True, stdin: str | None = None) -> Result:
    """In-process (CliRunner): the same commands without a Python start-up each."""
    result = CliRunner().invoke(main, list(args), env=environ, input=stdin)
    if ok:
        assert result.exit_code == 0, (args, result.output)
    return result


def test_user_commands(tmp_path: Path) -> None:
    environ = {"WATTHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"}
    _cli(environ, "db", "upgrade")
    added = _cli(
        environ, "user", "add", "olivia", "--role", "operator", "--password", "pass-word-1"
    )
    assert "olivia" in added.output and "operator" in added.output
    generated = _cli(environ, "user", "add", "vic", "--role", "viewer", "--generate").output
    assert re.search(r"Password: \S{16,}", generated)
    listed = _cli(environ, "user", "list").output
    assert re.search(r"olivia\s+operator\s+enabled", listed)
    assert re.search(r"vic\s+viewer\s+enabled", listed)
    assert "pass-word-1" not in listed

    for args, hint in [
        (("user", "add", "olivia", "--role", "viewer", "--password", "another-1"), "exists"),
        (("user", "add", "bad name", "--role", "viewer", "--password", "another-1"), "user name"),
        (("user", "add", "bob", "--role", "viewer", "--password", "short"), "8 characters"),
        (("user", "add", "bob", "--role", "root", "--password", "another-1"), "root"),
        (("user", "passwd", "nobody", "--password", "another-1"), "no user"),
        (("user", "remove", "nobody"), "no user"),
    ]:
        result = _cli(environ, *args, ok=False)
        assert result.exit_code != 0, args
        assert hint in result.output, (args, result.output)
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), result.exception

    _cli(environ, "user", "passwd", "olivia", "--password", "pass-word-2")
    _cli(environ, "user", "set", "olivia", "--role", "admin", "--disable")
    assert re.search(r"olivia\s+admin\s+disabled", _cli(environ, "user", "list").output)
    # Prompted password (not echoed), confirmed twice.
    prompted = _cli(
        environ, "user", "add", "pat", "--role", "viewer", stdin="pass-word-3\npass-word-3\n"
    )
    assert "User pat added" in prompted.output and "pass-word-3" not in prompted.output
    _cli(environ, "user", "remove", "vic")
    assert "vic" not in _cli(environ, "user", "list").output

    viewer = _cli(environ, "token", "create", "wall", "--role", "viewer").output.strip()
    assert viewer.startswith("wh_")
    tokens = _cli(environ, "token", "list").output
    assert re.search(r"\d+\s+wall\s+viewer", tokens)
    token_id = re.search(r"(\d+)\s+wall", tokens).group(1)  # type: ignore[union-attr]
    _cli(environ, "token", "revoke", token_id)
    assert "wall" not in _cli(environ, "token", "list").output
    assert _cli(environ, "token", "revoke", token_id, ok=False).exit_code != 0


async def test_cli_user_logs_in_to_a_running_server(
    server: tuple[dict[str, str], int, int],  # noqa: F811
) -> None:
    environ, _ocpp_port, api_port = server
    await asyncio.to_thread(
        run, environ, "user", "add", "olivia", "--role", "operator", "--password", "pass-word-1"
    )
    base = f"http://127.0.0.1:{api_port}/api/v1"
    async with httpx.AsyncClient(base_url=base) as client:
        login = await client.post(
            "/auth/login", json={"username": "olivia", "password": "pass-word-1"}
        )
        assert login.status_code == 200, login.text
        assert (await client.get("/auth/me")).json()["user"]["role"] == "operator"
    token = (
        await asyncio.to_thread(run, environ, "token", "create", "ops", "--role", "operator")
    ).stdout.strip()
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        assert (await client.get("/users")).status_code == 403
        assert (await client.get("/stations")).status_code == 200
