"""The ``watthub`` command line."""

from __future__ import annotations

import asyncio
import csv
import importlib
import json
import os
import signal
import sys
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.api import present
from watthub.cli.common import run_async, settings_of, with_db
from watthub.config import Settings, load_settings
from watthub.domain import station_ids
from watthub.logs import setup_logging
from watthub.storage import db, stations_repo, tags_repo, tokens_repo
from watthub.timeutil import parse_ts


@click.group()
@click.option("--config", "config_file", envvar="WATTHUB_CONFIG", help="TOML settings file")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """WattHub: an OCPP 1.6J charging station management system."""
    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings(config_file)


@main.command()
@click.option("--migrate/--no-migrate", default=None, help="Migrate the database first")
@click.option(
    "--workers",
    default="1",
    show_default=True,
    help="Processes on the same ports (SO_REUSEPORT); 'auto' = one per core. More than one "
    "needs PostgreSQL and WATTHUB_REDIS_URL (docs/cluster.md)",
)
@click.pass_context
def serve(ctx: click.Context, migrate: bool | None, workers: str) -> None:
    """Run the OCPP endpoint and the operator API."""
    from watthub.cluster.workers import WorkersRefused, check, supervise, worker_count

    settings = settings_of(ctx)
    if migrate is not None:
        settings.auto_migrate = migrate
    setup_logging(settings.log_level, settings.log_json)
    try:
        count = worker_count(workers)
        check(settings, count)
    except WorkersRefused as exc:
        raise click.ClickException(str(exc)) from exc
    if count > 1:
        click.echo(
            f"WattHub: starting {count} workers on OCPP port {settings.ocpp_port} and "
            f"API port {settings.api_port}"
        )
        sys.exit(supervise(settings, count, os.environ.get("WATTHUB_CONFIG")))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    run_async(_serve(settings))


async def _serve(settings: Settings) -> None:
    from watthub.app import ClusterNeedsPostgres, NotMigrated, WattHub, tune_gc

    hub = WattHub(settings)
    try:
        await hub.start()
        tune_gc(settings.gc_threshold)
    except (NotMigrated, ClusterNeedsPostgres) as exc:
        raise click.ClickException(str(exc)) from exc
    info = hub.describe()
    click.echo(f"WattHub {__import__('watthub').__version__} is running")
    click.echo(f"  Console       : {info['console_url']}  (open it in a browser)")
    click.echo(f"  OCPP endpoint : {info['ocpp_url'] or 'off (plain_listener=false)'}")
    if info.get("ocpp_tls_url"):
        click.echo(f"  OCPP over TLS : {info['ocpp_tls_url']}")
    click.echo(f"  Operator API  : {info['api_url']}  (docs: {info['docs_url']})")
    click.echo(f"  File server   : {info['files_url']}  (firmware downloads, log uploads)")
    if info.get("ftp_url"):
        click.echo(f"  FTP receiver  : {info['ftp_url']}")
    click.echo(f"  Database      : {info['database']}")
    if info.get("cluster"):
        click.echo(f"  Cluster       : {info['cluster']}")
    if info.get("initial_admin"):
        admin = info["initial_admin"]
        click.echo(
            f"  First login   : user {admin['username']!r}, password {admin['password']}\n"
            "                  (shown only this once; change it with `watthub user passwd admin`)"
        )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    click.echo("WattHub is stopping")
    await hub.stop()


@main.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the database schema to the latest revision."""
    settings = settings_of(ctx)

    async def go() -> None:
        engine = db.create_engine(settings.database_url)
        await db.upgrade(engine, settings.database_url)
        revision = await db.current_revision(engine)
        await engine.dispose()
        click.echo(f"Database {settings.database_url} is at revision {revision}")

    run_async(go())


@main.group()
def station() -> None:
    """Register and inspect stations."""


@station.command("add")
@click.argument("station_id")
@click.option("--password", help="Basic-auth password (security profile 1)")
@click.option(
    "--boot-policy", type=click.Choice(["Accepted", "Pending", "Rejected"]), default="Accepted"
)
@click.option("--heartbeat", type=int, help="Heartbeat interval in seconds")
@click.option("--lenient", is_flag=True, help="Process schema-violating messages when possible")
@click.option("--description", default="")
@click.pass_context
def station_add(
    ctx: click.Context,
    station_id: str,
    password: str | None,
    boot_policy: str,
    heartbeat: int | None,
    lenient: bool,
    description: str,
) -> None:
    from watthub.security.passwords import hash_password, station_password

    # The API's rules (domain/station_ids.py): an id a station can connect with.
    reason = station_ids.problem(station_id)
    if reason is not None:
        raise click.ClickException(f"Invalid station id {station_id!r}: {reason}")
    if password is not None and not 8 <= len(password) <= 40:
        raise click.ClickException("A password has 8 to 40 characters")
    if heartbeat is not None and heartbeat <= 0:
        raise click.ClickException("The heartbeat interval must be > 0 seconds")

    async def op(conn: AsyncConnection) -> None:
        if await stations_repo.get_station(conn, station_id) is not None:
            raise click.ClickException(f"Station {station_id} already exists")
        await stations_repo.create_station(
            conn,
            station_id,
            description=description,
            password_hash=hash_password(station_password(password)) if password else None,
            boot_policy=boot_policy,
            heartbeat_interval=heartbeat,
            validation_policy="lenient" if lenient else "strict",
        )

    run_async(with_db(settings_of(ctx), op))
    s = settings_of(ctx)
    click.echo(
        f"Station {station_id} added. It connects to {s.ocpp_url().format(stationId=station_id)}"
    )


@station.command("list")
@click.pass_context
def station_list(ctx: click.Context) -> None:
    rows = run_async(with_db(settings_of(ctx), stations_repo.list_stations))
    click.echo(f"{'ID':<24} {'BOOT':<9} {'LAST BOOT':<26} {'VENDOR/MODEL':<30} CONNECTED")
    for r in rows:
        vendor = f"{r['vendor'] or ''} {r['model'] or ''}".strip()
        click.echo(
            f"{r['id']:<24} {r['registration_status'] or '-':<9} "
            f"{r['last_boot_at'] or '-'!s:<26} {vendor:<30} {'yes' if r['connected_since'] else 'no'}"
        )


@station.command("show")
@click.argument("station_id")
@click.pass_context
def station_show(ctx: click.Context, station_id: str) -> None:
    async def op(conn: AsyncConnection) -> dict[str, Any]:
        s = await stations_repo.get_station(conn, station_id)
        if s is None:
            raise click.ClickException(f"Station {station_id} is not registered")
        s["connectors"] = await stations_repo.list_connectors(conn, station_id)
        return present.row(s) | {"connectors": present.rows(s["connectors"])}  # type: ignore[operator]

    click.echo(json.dumps(run_async(with_db(settings_of(ctx), op)), indent=2, default=str))


@main.group()
def tag() -> None:
    """Manage id tags."""


@tag.command("add")
@click.argument("id_tag")
@click.option("--status", type=click.Choice(tags_repo.TAG_STATUSES), default="Accepted")
@click.option("--expiry", help="Expiry date, ISO 8601 (e.g. 2027-01-01T00:00:00Z)")
@click.option("--parent", help="Parent id tag (group)")
@click.option("--concurrent", is_flag=True, help="May run several transactions at once")
@click.pass_context
def tag_add(
    ctx: click.Context,
    id_tag: str,
    status: str,
    expiry: str | None,
    parent: str | None,
    concurrent: bool,
) -> None:
    if not 1 <= len(id_tag) <= 20:
        raise click.ClickException("An idTag has 1 to 20 characters (CiString20)")
    try:
        expiry_date = parse_ts(expiry) if expiry else None
    except ValueError as exc:
        raise click.ClickException(f"bad --expiry {expiry!r} (ISO 8601 expected)") from exc

    async def op(conn: AsyncConnection) -> None:
        await tags_repo.put_tag(conn, id_tag, status, expiry_date, parent, concurrent)

    run_async(with_db(settings_of(ctx), op))
    click.echo(f"Id tag {id_tag}: {status}")


@tag.command("list")
@click.pass_context
def tag_list(ctx: click.Context) -> None:
    rows = run_async(with_db(settings_of(ctx), tags_repo.list_tags))
    click.echo(f"{'ID TAG':<22} {'STATUS':<9} {'EXPIRY':<27} PARENT")
    for r in rows:
        click.echo(
            f"{r['id_tag']:<22} {r['status']:<9} {r['expiry_date'] or '-'!s:<27} "
            f"{r['parent_id_tag'] or '-'}"
        )


@tag.command("import")
@click.argument("csv_file", type=click.File("r"))
@click.pass_context
def tag_import(ctx: click.Context, csv_file: Any) -> None:
    """Import tags from a CSV with header idTag,status,expiryDate,parentIdTag."""
    reader = csv.DictReader(csv_file)
    entries = []
    for number, line in enumerate(reader, start=2):
        id_tag = (line.get("idTag") or "").strip()
        status = (line.get("status") or "Accepted").strip() or "Accepted"
        if not id_tag or len(id_tag) > 20:
            raise click.ClickException(f"line {number}: idTag must have 1 to 20 characters")
        if status not in tags_repo.TAG_STATUSES:
            raise click.ClickException(f"line {number}: unknown status {status}")
        expiry = (line.get("expiryDate") or "").strip()
        try:
            expiry_date = parse_ts(expiry) if expiry else None
        except ValueError as exc:
            raise click.ClickException(f"line {number}: bad expiryDate {expiry!r}") from exc
        parent = (line.get("parentIdTag") or "").strip() or None
        entries.append((id_tag, status, expiry_date, parent))

    async def op(conn: AsyncConnection) -> None:
        await tags_repo.put_tags(conn, entries)

    run_async(with_db(settings_of(ctx), op))
    click.echo(f"Imported {len(entries)} id tags")


@main.group()
def token() -> None:
    """Operator API tokens."""


@token.command("create")
@click.argument("name", default="operator")
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin"]),
    default="admin",
    show_default=True,
    help="What the token may do (admin: also users and tokens)",
)
@click.pass_context
def token_create(ctx: click.Context, name: str, role: str) -> None:
    """Create a bearer token for the API (shown once; stored hashed)."""

    async def op(conn: AsyncConnection) -> str:
        return await tokens_repo.create_token(conn, name, role=role)

    click.echo(run_async(with_db(settings_of(ctx), op)))


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    rows = run_async(with_db(settings_of(ctx), tokens_repo.list_tokens))
    click.echo(f"{'ID':>4} {'NAME':<24} {'ROLE':<9} LAST USED")
    for r in rows:
        click.echo(f"{r['id']:>4} {r['name']:<24} {r['role']:<9} {r['last_used_at'] or '-'}")


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke a token (a running WattHub forgets it within auth_cache_seconds)."""

    async def op(conn: AsyncConnection) -> bool:
        return await tokens_repo.delete_token(conn, token_id)

    if not run_async(with_db(settings_of(ctx), op)):
        raise click.ClickException(f"There is no token {token_id}")
    click.echo(f"Token {token_id} revoked")


@main.command("send")
@click.argument("station_id")
@click.argument("action")
@click.argument("payload", default="{}")
@click.option("--api-url", envvar="WATTHUB_API_URL", help="Default: from settings")
@click.option("--token", "api_token", envvar="WATTHUB_API_TOKEN", required=True)
@click.option("--timeout", type=float, help="Seconds to wait for the station")
@click.pass_context
def send(
    ctx: click.Context,
    station_id: str,
    action: str,
    payload: str,
    api_url: str | None,
    api_token: str,
    timeout: float | None,
) -> None:
    """Send any OCPP action to a connected station, e.g.
    `watthub send CP1 Reset '{"type": "Soft"}'`."""
    import httpx

    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"PAYLOAD is not JSON: {exc}") from exc
    base = api_url or settings_of(ctx).api_url()
    params = {"timeout": timeout} if timeout else {}
    try:
        response = httpx.post(
            f"{base}/stations/{station_id}/ocpp/{action}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {api_token}"},
            timeout=(timeout or settings_of(ctx).call_timeout) + 10,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"Cannot reach the WattHub API at {base}: {exc}") from exc
    if response.status_code >= 400:
        raise click.ClickException(f"HTTP {response.status_code}: {response.text}")
    click.echo(json.dumps(response.json(), indent=2))


@main.command()
@click.argument("station_id")
@click.option("--url", help="OCPP URL of the station (default: from settings)")
@click.option("--password", help="Basic-auth password")
@click.option("--connectors", default=1, show_default=True)
@click.option("--meter-interval", default=10.0, show_default=True, help="Seconds between samples")
@click.option("--duration", type=float, help="Stop after this many seconds")
@click.pass_context
def simulate(
    ctx: click.Context,
    station_id: str,
    url: str | None,
    password: str | None,
    connectors: int,
    meter_interval: float,
    duration: float | None,
) -> None:
    """Run a simulated charge point that boots, heartbeats and charges on remote start."""
    from watthub.simulator import run_simulator

    setup_logging(os.environ.get("WATTHUB_LOG_LEVEL", "INFO"))
    settings = settings_of(ctx)
    target = url or settings.ocpp_url().format(stationId=station_id)
    run_async(run_simulator(target, station_id, password, connectors, meter_interval, duration))


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,  # `watthub bench run --help` is the benchmark's own help
)
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Run the load benchmark (see docs/benchmarks.md)."""
    from watthub.bench import main as bench_main  # type: ignore[attr-defined]

    raise SystemExit(bench_main(list(ctx.args)))


# Feature modules add their commands here; each has ``register(main: click.Group)``.
FEATURE_CLI_MODULES: list[str] = [
    "watthub.cli.local_list",
    "watthub.cli.reservation",
    "watthub.cli.remote_trigger",
    "watthub.cli.smart_charging",
    "watthub.cli.firmware",
    "watthub.cli.security",
    "watthub.cli.transactions",
    "watthub.cli.users",
]

for _name in FEATURE_CLI_MODULES:
    importlib.import_module(_name).register(main)


if __name__ == "__main__":
    main()
