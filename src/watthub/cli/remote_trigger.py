"""``watthub trigger``: ask a station to send a message now."""

from __future__ import annotations

import click

from watthub.cli.api_client import api_options, call_api, echo_json

MESSAGES = [
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
]


def register(main: click.Group) -> None:
    main.add_command(trigger)


@click.group()
def trigger() -> None:
    """TriggerMessage."""


@trigger.command("send")
@click.argument("station_id")
@click.argument("message", type=click.Choice(MESSAGES))
@click.option("--connector", type=int, help="> 0; omit for the station / all connectors")
@api_options
def send(
    ctx: click.Context,
    station_id: str,
    message: str,
    connector: int | None,
    api_url: str | None,
    api_token: str,
) -> None:
    body: dict[str, object] = {"requestedMessage": message}
    if connector is not None:
        body["connectorId"] = connector
    path = f"/stations/{station_id}/trigger-message"
    echo_json(call_api(ctx, api_url, api_token, "POST", path, body))


@trigger.command("history")
@click.argument("station_id")
@api_options
def history(ctx: click.Context, station_id: str, api_url: str | None, api_token: str) -> None:
    rows = call_api(ctx, api_url, api_token, "GET", f"/stations/{station_id}/trigger-requests")
    for r in rows:
        click.echo(
            f"{r['createdAt']}  {r['requestedMessage']:<30} "
            f"{r['connectorId'] if r['connectorId'] is not None else '-':>4}  {r['status']}"
        )
