"""``watthub local-list``: the stations' Local Authorization Lists."""

from __future__ import annotations

import json

import click

from watthub.cli.api_client import api_options, call_api, echo_json


def register(main: click.Group) -> None:
    main.add_command(local_list)


@click.group("local-list")
def local_list() -> None:
    """Local Authorization Lists: versions, content, scope and synchronisation."""


@local_list.command("version")
@click.argument("station_id")
@api_options
def version(ctx: click.Context, station_id: str, api_url: str | None, api_token: str) -> None:
    """Ask the station its list version (GetLocalListVersion; -1 = unsupported, 0 = empty)."""
    path = f"/stations/{station_id}/get-local-list-version"
    echo_json(call_api(ctx, api_url, api_token, "POST", path, {}))


@local_list.command("show")
@click.argument("station_id")
@api_options
def show(ctx: click.Context, station_id: str, api_url: str | None, api_token: str) -> None:
    """The list the station last accepted, its version and whether it is out of date."""
    echo_json(call_api(ctx, api_url, api_token, "GET", f"/stations/{station_id}/local-list"))


@local_list.command("sync")
@click.argument("station_id")
@click.option(
    "--type",
    "update_type",
    type=click.Choice(["auto", "Full", "Differential"]),
    default="auto",
    show_default=True,
)
@click.option("--tag", "tags", multiple=True, help="Only these id tags (repeat); needs --type")
@api_options
def sync(
    ctx: click.Context,
    station_id: str,
    update_type: str,
    tags: tuple[str, ...],
    api_url: str | None,
    api_token: str,
) -> None:
    """Send the station what changed (or the Full list), in parts if needed."""
    body: dict[str, object] = {"updateType": update_type}
    if tags:
        body["idTags"] = list(tags)
    path = f"/stations/{station_id}/local-list/sync"
    echo_json(call_api(ctx, api_url, api_token, "POST", path, body))


@local_list.command("send")
@click.argument("station_id")
@click.argument("update_type", type=click.Choice(["Full", "Differential"]))
@click.argument("entries", default="[]")
@click.option("--version", "list_version", type=int, help="Default: the next version")
@api_options
def send(
    ctx: click.Context,
    station_id: str,
    update_type: str,
    entries: str,
    list_version: int | None,
    api_url: str | None,
    api_token: str,
) -> None:
    """Send raw entries, e.g. '[{"idTag": "A", "idTagInfo": {"status": "Accepted"}}]'."""
    try:
        items = json.loads(entries)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"ENTRIES is not JSON: {exc}") from exc
    body: dict[str, object] = {"updateType": update_type, "localAuthorizationList": items}
    if list_version is not None:
        body["listVersion"] = list_version
    path = f"/stations/{station_id}/send-local-list"
    echo_json(call_api(ctx, api_url, api_token, "POST", path, body))


@local_list.command("scope")
@click.argument("station_id")
@click.option("--all", "all_tags", is_flag=True, help="Every id tag")
@click.option("--group", "groups", multiple=True, help="A parentIdTag group (repeat)")
@api_options
def scope(
    ctx: click.Context,
    station_id: str,
    all_tags: bool,
    groups: tuple[str, ...],
    api_url: str | None,
    api_token: str,
) -> None:
    """Choose which tags belong in the station's list."""
    if all_tags == bool(groups):
        raise click.ClickException("Give either --all or one or more --group")
    body = {"mode": "all"} if all_tags else {"mode": "groups", "groups": list(groups)}
    path = f"/stations/{station_id}/local-list/scope"
    echo_json(call_api(ctx, api_url, api_token, "PUT", path, body))


@local_list.command("out-of-date")
@api_options
def out_of_date(ctx: click.Context, api_url: str | None, api_token: str) -> None:
    """Stations whose accepted list differs from what WattHub wants."""
    rows = call_api(ctx, api_url, api_token, "GET", "/local-lists/out-of-date")
    click.echo(f"{'STATION':<24} {'VERSION':>8} {'CHANGES':>8} LAST STATUS")
    for r in rows:
        click.echo(
            f"{r['stationId']:<24} {r['version'] if r['version'] is not None else '-':>8} "
            f"{r['pendingChanges']:>8} {r['lastStatus'] or '-'}"
        )
