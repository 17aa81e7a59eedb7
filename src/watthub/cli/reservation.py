"""``watthub reservation``: reserve, cancel, list."""

from __future__ import annotations

import click

from watthub.cli.api_client import api_options, call_api, echo_json


def register(main: click.Group) -> None:
    main.add_command(reservation)


@click.group()
def reservation() -> None:
    """Reservations (ReserveNow / CancelReservation)."""


@reservation.command("reserve")
@click.argument("station_id")
@click.option("--connector", type=int, default=0, show_default=True, help="0 = the station")
@click.option("--tag", "id_tag", required=True)
@click.option("--expires-in", type=int, help="Seconds from now")
@click.option("--expiry", help="ISO 8601 date with a time zone")
@click.option("--parent", help="parentIdTag (default: the tag's group)")
@click.option("--id", "reservation_id", type=int, help="Default: WattHub assigns one")
@api_options
def reserve(
    ctx: click.Context,
    station_id: str,
    connector: int,
    id_tag: str,
    expires_in: int | None,
    expiry: str | None,
    parent: str | None,
    reservation_id: int | None,
    api_url: str | None,
    api_token: str,
) -> None:
    body: dict[str, object] = {"connectorId": connector, "idTag": id_tag}
    if expires_in is not None:
        body["expiresIn"] = expires_in
    if expiry is not None:
        body["expiryDate"] = expiry
    if parent:
        body["parentIdTag"] = parent
    if reservation_id is not None:
        body["reservationId"] = reservation_id
    path = f"/stations/{station_id}/reserve-now"
    echo_json(call_api(ctx, api_url, api_token, "POST", path, body))


@reservation.command("cancel")
@click.argument("station_id")
@click.argument("reservation_id", type=int)
@api_options
def cancel(
    ctx: click.Context, station_id: str, reservation_id: int, api_url: str | None, api_token: str
) -> None:
    path = f"/stations/{station_id}/cancel-reservation"
    echo_json(call_api(ctx, api_url, api_token, "POST", path, {"reservationId": reservation_id}))


@reservation.command("list")
@click.option("--station", "station_id")
@click.option(
    "--status",
    type=click.Choice(["sent", "active", "refused", "used", "expired", "cancelled", "replaced"]),
)
@api_options
def list_reservations(
    ctx: click.Context,
    station_id: str | None,
    status: str | None,
    api_url: str | None,
    api_token: str,
) -> None:
    params = {k: v for k, v in {"stationId": station_id, "status": status}.items() if v}
    rows = call_api(ctx, api_url, api_token, "GET", "/reservations", params=params)
    click.echo(f"{'ID':>6} {'STATION':<20} {'CONN':>4} {'TAG':<20} {'STATUS':<10} EXPIRY")
    for r in rows:
        click.echo(
            f"{r['reservationId']:>6} {r['stationId']:<20} {r['connectorId']:>4} "
            f"{r['idTag']:<20} {r['status']:<10} {r['expiryDate']}"
        )
