"""``watthub firmware ...`` and ``watthub diagnostics ...``: talk to a running WattHub's API
(uploads, commands and campaigns need the server that hosts the files and the stations)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx


def _api(ctx: click.Context) -> tuple[str, dict[str, str]]:
    obj = ctx.find_root().obj
    base = obj.get("fw_api_url") or obj["settings"].api_url()
    token = obj.get("fw_api_token")
    if not token:
        raise click.ClickException("An API token is needed: --token or WATTHUB_API_TOKEN")
    return base.rstrip("/"), {"Authorization": f"Bearer {token}"}


def _call(ctx: click.Context, method: str, path: str, **kwargs: Any) -> Any:
    base, headers = _api(ctx)
    response = httpx.request(method, f"{base}{path}", headers=headers, timeout=120, **kwargs)
    if response.status_code >= 400:
        raise click.ClickException(f"HTTP {response.status_code}: {response.text}")
    if not response.content:
        return None
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.content


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _api_options(func: Any) -> Any:
    func = click.option("--api-url", envvar="WATTHUB_API_URL", help="Default: from settings")(func)
    return click.option("--token", "api_token", envvar="WATTHUB_API_TOKEN")(func)


def _remember(ctx: click.Context, api_url: str | None, api_token: str | None) -> None:
    obj = ctx.find_root().obj
    obj["fw_api_url"] = api_url
    obj["fw_api_token"] = api_token


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@click.group()
@_api_options
@click.pass_context
def firmware(ctx: click.Context, api_url: str | None, api_token: str | None) -> None:
    """Firmware images hosted by WattHub, updates and campaigns."""
    _remember(ctx, api_url, api_token)


@firmware.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--version", "fw_version", help="Firmware version the image installs")
@click.option("--description", default="")
@click.pass_context
def fw_upload(ctx: click.Context, file: Path, fw_version: str | None, description: str) -> None:
    """Upload FILE; prints its id, SHA-256 and the URL stations download it from."""
    with file.open("rb") as fh:
        data = _clean({"version": fw_version, "description": description})
        _echo(_call(ctx, "POST", "/firmware", files={"file": (file.name, fh)}, data=data))


@firmware.command("list")
@click.pass_context
def fw_list(ctx: click.Context) -> None:
    """List uploaded images."""
    for image in _call(ctx, "GET", "/firmware"):
        click.echo(
            f"{image['id']:>4}  {image['filename']:<30} {image['version'] or '-':<12} "
            f"{image['size']:>10}  {image['sha256']}"
        )


@firmware.command("update")
@click.argument("station_id")
@click.option("--firmware-id", type=int, help="An uploaded image (default source)")
@click.option("--location", help="Or any URL the station downloads from")
@click.option("--retrieve-date", help="ISO 8601; default now")
@click.option("--retries", type=int)
@click.option("--retry-interval", type=int)
@click.pass_context
def fw_update(ctx: click.Context, station_id: str, **opts: Any) -> None:
    """Send UpdateFirmware to STATION_ID."""
    body = _clean(
        {
            "firmwareId": opts["firmware_id"],
            "location": opts["location"],
            "retrieveDate": opts["retrieve_date"],
            "retries": opts["retries"],
            "retryInterval": opts["retry_interval"],
        }
    )
    _echo(_call(ctx, "POST", f"/stations/{station_id}/update-firmware", json=body))


@firmware.command("status")
@click.argument("station_id")
@click.pass_context
def fw_status(ctx: click.Context, station_id: str) -> None:
    """Firmware version, current status, timeline and updates of STATION_ID."""
    _echo(_call(ctx, "GET", f"/stations/{station_id}/firmware"))


@firmware.group("campaign")
def campaign() -> None:
    """Roll firmware out to many stations."""


@campaign.command("create")
@click.option("--firmware-id", type=int)
@click.option("--location")
@click.option("--station", "stations", multiple=True, required=True, help="Repeat per station")
@click.option("--concurrency", type=int, default=5, show_default=True)
@click.option("--expected-version", help="Default: the image's version")
@click.option("--name", default="")
@click.option("--station-timeout", type=int, default=3600, show_default=True)
@click.pass_context
def campaign_create(ctx: click.Context, **opts: Any) -> None:
    """Start a campaign."""
    body = _clean(
        {
            "name": opts["name"],
            "firmwareId": opts["firmware_id"],
            "location": opts["location"],
            "stations": list(opts["stations"]),
            "concurrency": opts["concurrency"],
            "expectedVersion": opts["expected_version"],
            "stationTimeout": opts["station_timeout"],
        }
    )
    _echo(_call(ctx, "POST", "/firmware-campaigns", json=body))


@campaign.command("list")
@click.pass_context
def campaign_list(ctx: click.Context) -> None:
    for c in _call(ctx, "GET", "/firmware-campaigns"):
        click.echo(f"{c['id']:>4}  {c['status']:<10} {c['name']}  {c['location']}")


@campaign.command("show")
@click.argument("campaign_id", type=int)
@click.pass_context
def campaign_show(ctx: click.Context, campaign_id: int) -> None:
    """Per-station progress of a campaign."""
    c = _call(ctx, "GET", f"/firmware-campaigns/{campaign_id}")
    click.echo(f"Campaign {c['id']} ({c['status']}): {c['counts']}")
    for s in c["stations"]:
        click.echo(f"  {s['stationId']:<24} {s['state']:<12} {s['detail']}")


@campaign.command("cancel")
@click.argument("campaign_id", type=int)
@click.pass_context
def campaign_cancel(ctx: click.Context, campaign_id: int) -> None:
    _echo(_call(ctx, "POST", f"/firmware-campaigns/{campaign_id}/cancel"))


@click.group()
@_api_options
@click.pass_context
def diagnostics(ctx: click.Context, api_url: str | None, api_token: str | None) -> None:
    """GetDiagnostics and the files stations uploaded to WattHub."""
    _remember(ctx, api_url, api_token)


@diagnostics.command("get")
@click.argument("station_id")
@click.option("--location", help="Default: WattHub's own upload location")
@click.option("--ftp", "use_ftp", is_flag=True, help="WattHub's FTP receiver instead of HTTP")
@click.option("--start-time")
@click.option("--stop-time")
@click.option("--retries", type=int)
@click.option("--retry-interval", type=int)
@click.pass_context
def diag_get(ctx: click.Context, station_id: str, use_ftp: bool, **opts: Any) -> None:
    """Send GetDiagnostics to STATION_ID."""
    body = _clean(
        {
            "location": opts["location"],
            "transport": "ftp" if use_ftp else None,
            "startTime": opts["start_time"],
            "stopTime": opts["stop_time"],
            "retries": opts["retries"],
            "retryInterval": opts["retry_interval"],
        }
    )
    _echo(_call(ctx, "POST", f"/stations/{station_id}/get-diagnostics", json=body))


@diagnostics.command("files")
@click.argument("station_id")
@click.pass_context
def diag_files(ctx: click.Context, station_id: str) -> None:
    """Files STATION_ID uploaded."""
    state = _call(ctx, "GET", f"/stations/{station_id}/diagnostics")
    for f in state["files"]:
        click.echo(
            f"{f['id']:>4}  {f['filename']:<30} {f['size']:>10}  {f['transport']:<5} "
            f"{f['receivedAt']}"
        )


@diagnostics.command("download")
@click.argument("station_id")
@click.argument("file_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def diag_download(ctx: click.Context, station_id: str, file_id: int, output: Path) -> None:
    data = _call(ctx, "GET", f"/stations/{station_id}/diagnostics/files/{file_id}")
    output.write_bytes(data)
    click.echo(f"{output} ({len(data)} bytes)")


def register(main: click.Group) -> None:
    main.add_command(firmware)
    main.add_command(diagnostics)
