"""``watthub profile …`` and ``watthub site …``: Smart Charging from the command line.

They talk to the running WattHub's API (like ``watthub send``), so the same checks and hooks apply
and the station is reached through the server that holds its connection."""

from __future__ import annotations

import json
from typing import Any

import click

from watthub.cli.api_client import call_api, url_and_token_options

# One way for feature commands to reach the API (shared with the other feature CLIs).
_api_options = url_and_token_options


def _call(ctx: click.Context, api: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    """call_api with the --api-url/--token values every command collects in ``**api``."""
    return call_api(ctx, api["api_url"], api["api_token"], *args, **kwargs)


def _echo(data: Any) -> None:
    if data is not None:
        click.echo(json.dumps(data, indent=2))


def _load_json(text: str) -> Any:
    """A JSON document, or ``@file`` to read one."""
    try:
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as fh:
                return json.load(fh)
        return json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"not JSON: {exc}") from exc


def _choice(profile_id: int | None, profile: str | None) -> dict[str, Any]:
    if (profile_id is None) == (profile is None):
        raise click.ClickException("give exactly one of --profile-id or --profile")
    if profile_id is not None:
        return {"profileId": profile_id}
    return {"chargingProfile": _load_json(profile or "")}


@click.group("profile")
def profile_group() -> None:
    """Charging profiles: the library, sending, clearing, composite schedules."""


@profile_group.command("add")
@click.argument("profile")
@click.option("--name", default="")
@_api_options
@click.pass_context
def profile_add(ctx: click.Context, profile: str, name: str, **api: Any) -> None:
    """Add PROFILE (JSON or @file, csChargingProfiles without transactionId) to the library."""
    body = _load_json(profile)
    _echo(
        _call(
            ctx,
            api,
            "POST",
            "/charging-profiles",
            {"name": name, **body},
        )
    )


@profile_group.command("list")
@_api_options
@click.pass_context
def profile_list(ctx: click.Context, **api: Any) -> None:
    """The library."""
    _echo(_call(ctx, api, "GET", "/charging-profiles"))


@profile_group.command("delete")
@click.argument("profile_id", type=int)
@_api_options
@click.pass_context
def profile_delete(ctx: click.Context, profile_id: int, **api: Any) -> None:
    """Remove a profile from the library."""
    _call(ctx, api, "DELETE", f"/charging-profiles/{profile_id}")


@profile_group.command("set")
@click.argument("station_id")
@click.option("--connector", type=int, required=True)
@click.option("--profile-id", type=int, help="A library profile")
@click.option("--profile", help="An inline profile (JSON or @file)")
@click.option("--transaction", type=int, help="TxProfile: default the running transaction")
@_api_options
@click.pass_context
def profile_set(
    ctx: click.Context,
    station_id: str,
    connector: int,
    profile_id: int | None,
    profile: str | None,
    transaction: int | None,
    **api: Any,
) -> None:
    """SetChargingProfile on a station."""
    body: dict[str, Any] = {"connectorId": connector, **_choice(profile_id, profile)}
    if transaction is not None:
        body["transactionId"] = transaction
    _echo(
        _call(
            ctx,
            api,
            "POST",
            f"/stations/{station_id}/charging-profiles",
            body,
        )
    )


@profile_group.command("clear")
@click.argument("station_id")
@click.option("--id", "profile_id", type=int, help="Only this profile")
@click.option("--connector", type=int)
@click.option(
    "--purpose", type=click.Choice(["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"])
)
@click.option("--stack-level", type=int)
@_api_options
@click.pass_context
def profile_clear(
    ctx: click.Context,
    station_id: str,
    profile_id: int | None,
    connector: int | None,
    purpose: str | None,
    stack_level: int | None,
    **api: Any,
) -> None:
    """ClearChargingProfile: by --id, by criteria (ANDed), or everything (no option)."""
    body = {
        k: v
        for k, v in (
            ("id", profile_id),
            ("connectorId", connector),
            ("chargingProfilePurpose", purpose),
            ("stackLevel", stack_level),
        )
        if v is not None
    }
    _echo(
        _call(
            ctx,
            api,
            "POST",
            f"/stations/{station_id}/charging-profiles/clear",
            body,
        )
    )


@profile_group.command("installed")
@click.argument("station_id")
@_api_options
@click.pass_context
def profile_installed(ctx: click.Context, station_id: str, **api: Any) -> None:
    """The profiles the station has accepted."""
    _echo(
        _call(
            ctx,
            api,
            "GET",
            f"/stations/{station_id}/charging-profiles",
        )
    )


@profile_group.command("composite")
@click.argument("station_id")
@click.option("--connector", type=int, required=True)
@click.option("--duration", type=int, default=3600, show_default=True)
@click.option("--unit", type=click.Choice(["A", "W"]))
@click.option("--local", is_flag=True, help="Only WattHub's computation, do not ask the station")
@_api_options
@click.pass_context
def profile_composite(
    ctx: click.Context,
    station_id: str,
    connector: int,
    duration: int,
    unit: str | None,
    local: bool,
    **api: Any,
) -> None:
    """GetCompositeSchedule: the station's answer, WattHub's computation and the differences."""
    body: dict[str, Any] = {"connectorId": connector, "duration": duration}
    if unit:
        body["chargingRateUnit"] = unit
    if local:
        _echo(
            _call(
                ctx,
                api,
                "GET",
                f"/stations/{station_id}/composite-schedule",
                params=body,
            )
        )
    else:
        _echo(
            _call(
                ctx,
                api,
                "POST",
                f"/stations/{station_id}/composite-schedule",
                body,
            )
        )


@profile_group.command("remote-start")
@click.argument("station_id")
@click.option("--tag", required=True)
@click.option("--connector", type=int)
@click.option("--profile-id", type=int, help="A library TxProfile")
@click.option("--profile", help="An inline TxProfile (JSON or @file)")
@_api_options
@click.pass_context
def profile_remote_start(
    ctx: click.Context,
    station_id: str,
    tag: str,
    connector: int | None,
    profile_id: int | None,
    profile: str | None,
    **api: Any,
) -> None:
    """RemoteStartTransaction with a TxProfile."""
    body: dict[str, Any] = {"idTag": tag, **_choice(profile_id, profile)}
    if connector is not None:
        body["connectorId"] = connector
    _echo(
        _call(
            ctx,
            api,
            "POST",
            f"/stations/{station_id}/remote-start-with-profile",
            body,
        )
    )


@click.group("site")
def site_group() -> None:
    """Sites: stations sharing a maximum current or power."""


@site_group.command("create")
@click.argument("site_id")
@click.option("--limit", type=float, required=True)
@click.option("--unit", type=click.Choice(["A", "W"]), default="A", show_default=True)
@click.option("--min", "minimum", type=float, default=0, help="Per-connector minimum")
@click.option("--stack-level", type=int, default=9, show_default=True)
@click.option(
    "--max",
    "maximum",
    type=float,
    default=None,
    help="What one connector can draw at most (a station refusing its limit counts at this)",
)
@click.option("--description", default="")
@_api_options
@click.pass_context
def site_create(
    ctx: click.Context,
    site_id: str,
    limit: float,
    unit: str,
    minimum: float,
    stack_level: int,
    maximum: float | None,
    description: str,
    **api: Any,
) -> None:
    """Create a site."""
    body = {
        "id": site_id,
        "limit": limit,
        "unit": unit,
        "minPerConnector": minimum,
        "stackLevel": stack_level,
        "maxPerConnector": maximum,
        "description": description,
    }
    _echo(_call(ctx, api, "POST", "/sites", body))


@site_group.command("set-limit")
@click.argument("site_id")
@click.argument("limit", type=float)
@_api_options
@click.pass_context
def site_set_limit(ctx: click.Context, site_id: str, limit: float, **api: Any) -> None:
    """Change the limit (applied at once)."""
    _echo(_call(ctx, api, "PATCH", f"/sites/{site_id}", {"limit": limit}))


@site_group.command("assign")
@click.argument("site_id")
@click.argument("station_ids", nargs=-1, required=True)
@_api_options
@click.pass_context
def site_assign(ctx: click.Context, site_id: str, station_ids: tuple[str, ...], **api: Any) -> None:
    """Put stations into the site."""
    for station_id in station_ids:
        result = _call(ctx, api, "PUT", f"/sites/{site_id}/stations/{station_id}")
    _echo(result)


@site_group.command("unassign")
@click.argument("site_id")
@click.argument("station_id")
@_api_options
@click.pass_context
def site_unassign(ctx: click.Context, site_id: str, station_id: str, **api: Any) -> None:
    """Take a station out of the site."""
    _echo(
        _call(
            ctx,
            api,
            "DELETE",
            f"/sites/{site_id}/stations/{station_id}",
        )
    )


@site_group.command("show")
@click.argument("site_id", required=False)
@_api_options
@click.pass_context
def site_show(ctx: click.Context, site_id: str | None, **api: Any) -> None:
    """A site with its stations and allocation (all sites without SITE_ID)."""
    path = f"/sites/{site_id}" if site_id else "/sites"
    _echo(_call(ctx, api, "GET", path))


def register(main: click.Group) -> None:
    main.add_command(profile_group)
    main.add_command(site_group)
