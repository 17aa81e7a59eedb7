"""``watthub transaction``: show one, close one by hand."""

from __future__ import annotations

import click

from watthub.cli.api_client import api_options, call_api, echo_json


def register(main: click.Group) -> None:
    main.add_command(transaction)


@click.group()
def transaction() -> None:
    """Charging transactions."""


@transaction.command("show")
@click.argument("transaction_id", type=int)
@api_options
def show(ctx: click.Context, transaction_id: int, api_url: str | None, api_token: str) -> None:
    """A transaction with its meter values."""
    echo_json(call_api(ctx, api_url, api_token, "GET", f"/transactions/{transaction_id}"))


@transaction.command("close")
@click.argument("transaction_id", type=int)
@click.option("--reason", required=True, help="Kept in the transaction's flags")
@api_options
def close(
    ctx: click.Context, transaction_id: int, reason: str, api_url: str | None, api_token: str
) -> None:
    """Close a transaction the charger will never stop (it lost it): meterStop from its last
    reading, stop reason Other. Nothing is sent to the station."""
    path = f"/transactions/{transaction_id}/close"
    echo_json(call_api(ctx, api_url, api_token, "POST", path, {"reason": reason}))
