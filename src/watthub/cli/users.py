"""``watthub user add|list|passwd|set|remove``: operator accounts, directly on the database
(like ``watthub token create``), so an admin can always get back in. A running WattHub notices
role changes and ended sessions within ``auth_cache_seconds`` (the API's own changes are
immediate)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.cli.common import run_async, settings_of, with_db
from watthub.domain import accounts
from watthub.security.user_passwords import generate_password
from watthub.storage import users_repo
from watthub.storage.tables_auth import ROLES


def register(main: click.Group) -> None:
    main.add_command(user)


T = TypeVar("T")


def _db(ctx: click.Context, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async def guarded(conn: AsyncConnection) -> T:
        try:
            return await op(conn)
        except accounts.AccountError as exc:
            raise click.ClickException(exc.message) from exc

    return run_async(with_db(settings_of(ctx), guarded))


def _password(password: str | None, generate: bool) -> tuple[str, bool]:
    """The new password, and whether it was generated (then it is printed once)."""
    if generate:
        return generate_password(), True
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password, False


@click.group()
def user() -> None:
    """Operator accounts for the console and the API (roles: viewer, operator, admin)."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password", help="Default: asked for (not echoed)")
@click.option("--generate", is_flag=True, help="Generate a password and print it once")
@click.pass_context
def user_add(
    ctx: click.Context, username: str, role: str, password: str | None, generate: bool
) -> None:
    secret, generated = _password(password, generate)

    async def op(conn: AsyncConnection) -> None:
        await accounts.create_account(conn, username, secret, role)

    _db(ctx, op)
    click.echo(f"User {username} added with the role {role}")
    if generated:
        click.echo(f"Password: {secret}")


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    rows = _db(ctx, users_repo.list_users)
    click.echo(f"{'USER':<24} {'ROLE':<9} {'STATE':<9} CREATED")
    for r in rows:
        state = "disabled" if r["disabled"] else "enabled"
        click.echo(f"{r['username']:<24} {r['role']:<9} {state:<9} {r['created_at']}")


@user.command("passwd")
@click.argument("username")
@click.option("--password", help="Default: asked for (not echoed)")
@click.option("--generate", is_flag=True, help="Generate a password and print it once")
@click.pass_context
def user_passwd(ctx: click.Context, username: str, password: str | None, generate: bool) -> None:
    """Set a new password; the user's console sessions end."""
    secret, generated = _password(password, generate)

    async def op(conn: AsyncConnection) -> None:
        await accounts.change_account(conn, username, password=secret)

    _db(ctx, op)
    click.echo(f"Password of {username} changed; its sessions have ended")
    if generated:
        click.echo(f"Password: {secret}")


@user.command("set")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES))
@click.option("--disable/--enable", "disabled", default=None, help="Refuse or allow logins")
@click.pass_context
def user_set(ctx: click.Context, username: str, role: str | None, disabled: bool | None) -> None:
    """Change the role of a user, or disable / enable the account."""

    async def op(conn: AsyncConnection) -> None:
        await accounts.change_account(conn, username, role=role, disabled=disabled)

    _db(ctx, op)
    click.echo(f"User {username} changed")


@user.command("remove")
@click.argument("username")
@click.pass_context
def user_remove(ctx: click.Context, username: str) -> None:
    async def op(conn: AsyncConnection) -> None:
        await accounts.remove_account(conn, username)

    _db(ctx, op)
    click.echo(f"User {username} removed")
