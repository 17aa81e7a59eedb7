"""``watthub ca …`` (the PKI in ``data_dir/pki``) and the security commands of ``watthub station``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.cli.common import run_async, settings_of, with_db
from watthub.security import firmware_signing, pki
from watthub.security.keys import KEY_TYPES


def _dir(ctx: click.Context) -> pki.CaDirectory:
    from watthub.domain.pki_store import ca_dir

    return ca_dir(settings_of(ctx))


def _issuer(directory: pki.CaDirectory) -> pki.CertificateAuthority:
    for name in (pki.CaDirectory.SUB_CA, pki.CaDirectory.ROOT_CA):
        if directory.exists(name) and directory.key_path(name).is_file():
            return directory.load_ca(name)
    raise click.ClickException("No CA yet: run `watthub ca init` or `watthub ca import` first")


@click.group("ca")
def ca() -> None:
    """WattHub's PKI: root/sub-CA, server certificates, firmware signing (data_dir/pki)."""


@ca.command("init")
@click.option("--cn", default="WattHub Root CA", show_default=True)
@click.option("--org", help="Organization (O) of the CA certificates")
@click.option("--sub-ca/--no-sub-ca", default=True, show_default=True, help="Sign with a sub-CA")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="rsa-4096", show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing CA")
@click.pass_context
def ca_init(
    ctx: click.Context, cn: str, org: str | None, sub_ca: bool, key_type: str, force: bool
) -> None:
    """Create a root CA (and a sub-CA that signs station certificates)."""
    directory = _dir(ctx)
    if directory.exists(pki.CaDirectory.ROOT_CA) and not force:
        raise click.ClickException(f"A root CA exists in {directory.path} (use --force)")
    root = pki.create_root_ca(cn, organization=org, key_type=key_type)  # type: ignore[arg-type]
    directory.save_ca(pki.CaDirectory.ROOT_CA, root)
    click.echo(f"Root CA: {directory.cert_path(pki.CaDirectory.ROOT_CA)}")
    if sub_ca:
        sub = pki.create_sub_ca(root, f"{cn} - Sub CA", organization=org)
        directory.save_ca(pki.CaDirectory.SUB_CA, sub)
        click.echo(f"Sub-CA : {directory.cert_path(pki.CaDirectory.SUB_CA)}")
    elif directory.exists(pki.CaDirectory.SUB_CA):
        directory.cert_path(pki.CaDirectory.SUB_CA).unlink()
        directory.key_path(pki.CaDirectory.SUB_CA).unlink(missing_ok=True)


@ca.command("import")
@click.argument("cert_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "role", type=click.Choice(["root", "sub"]), default="root", show_default=True)
@click.option("--parents", type=click.Path(exists=True, dir_okay=False), help="Issuer chain PEM")
@click.pass_context
def ca_import(
    ctx: click.Context, cert_file: str, key_file: str, role: str, parents: str | None
) -> None:
    """Import an existing CA certificate and key (e.g. a sub-CA of your company's PKI)."""
    try:
        imported = pki.import_ca(
            Path(cert_file).read_bytes(),
            Path(key_file).read_bytes(),
            parents_pem=Path(parents).read_bytes() if parents else None,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    name = pki.CaDirectory.ROOT_CA if role == "root" else pki.CaDirectory.SUB_CA
    click.echo(f"Imported: {_dir(ctx).save_ca(name, imported)}")


@ca.command("issue-server")
@click.argument("fqdn")
@click.option("--alt", multiple=True, help="Extra DNS name or IP (repeatable)")
@click.option("--validity-days", default=397, show_default=True)
@click.pass_context
def ca_issue_server(
    ctx: click.Context, fqdn: str, alt: tuple[str, ...], validity_days: int
) -> None:
    """Issue the CSMS TLS certificates: RSA and ECDSA, CN = FQDN (TC_086)."""
    directory = _dir(ctx)
    issuer = _issuer(directory)
    for name, key_type in (
        (pki.CaDirectory.SERVER_RSA, "rsa-2048"),
        (pki.CaDirectory.SERVER_ECDSA, "ec-p256"),
    ):
        issued = pki.issue_server_certificate(
            issuer,
            fqdn,
            extra_names=alt,
            key_type=key_type,
            validity_days=validity_days,  # type: ignore[arg-type]
        )
        directory.save_issued(name, issued)
    d = directory
    click.echo("Server certificates issued. Settings (or WATTHUB_* variables):")
    click.echo(f'  tls_cert_file = "{d.cert_path(pki.CaDirectory.SERVER_RSA)}"')
    click.echo(f'  tls_key_file = "{d.key_path(pki.CaDirectory.SERVER_RSA)}"')
    click.echo(f'  tls_ecdsa_cert_file = "{d.cert_path(pki.CaDirectory.SERVER_ECDSA)}"')
    click.echo(f'  tls_ecdsa_key_file = "{d.key_path(pki.CaDirectory.SERVER_ECDSA)}"')
    click.echo(f'  tls_client_ca_file = "{d.cert_path(pki.CaDirectory.ROOT_CA)}"')


@ca.command("issue-station")
@click.argument("common_name")
@click.option("--out", type=click.Path(file_okay=False), default=".", show_default=True)
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="ec-p256", show_default=True)
@click.pass_context
def ca_issue_station(ctx: click.Context, common_name: str, out: str, key_type: str) -> None:
    """Issue a station (client) certificate + key, for test stations and simulators.
    COMMON_NAME is the station serial number (or its id with tls_client_cn_check=station_id)."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from watthub.security.keys import generate_private_key

    issuer = _issuer(_dir(ctx))
    key = generate_private_key(key_type)  # type: ignore[arg-type]
    cert = pki.issue_certificate(
        issuer,
        pki.build_name(common_name, settings_of(ctx).cpo_name),
        key.public_key(),
        extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
        validity_days=settings_of(ctx).station_cert_validity_days,
    )
    target = pki.CaDirectory(out)
    path = target.save(f"station-{common_name}", cert, chain=issuer.intermediates, private_key=key)
    click.echo(f"Station certificate: {path} (key next to it)")


@ca.command("firmware-signing")
@click.option("--cn", default="WattHub Firmware Signing", show_default=True)
@click.pass_context
def ca_firmware_signing(ctx: click.Context, cn: str) -> None:
    """Create the firmware-signing key + certificate used by signed-update-firmware."""
    directory = _dir(ctx)
    issued = firmware_signing.create_firmware_signing_certificate(_issuer(directory), cn)
    directory.save_issued(pki.CaDirectory.FIRMWARE_SIGNING, issued)
    click.echo(f"Firmware signing: {directory.cert_path(pki.CaDirectory.FIRMWARE_SIGNING)}")
    click.echo("Install the root CA on stations as ManufacturerRootCertificate.")


@ca.command("export")
@click.option("--out", type=click.Path(file_okay=False), help="Write files here (else stdout)")
@click.pass_context
def ca_export(ctx: click.Context, out: str | None) -> None:
    """What stations need: the root CA (CentralSystemRootCertificate / ManufacturerRoot...)."""
    directory = _dir(ctx)
    if not directory.exists(pki.CaDirectory.ROOT_CA):
        raise click.ClickException("No CA yet: run `watthub ca init`")
    root_pem = pki.certificate_to_pem(directory.load_certificates(pki.CaDirectory.ROOT_CA)[-1])
    if out is None:
        click.echo(root_pem, nl=False)
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "central-system-root.pem").write_text(root_pem)
    click.echo(f"Wrote {Path(out) / 'central-system-root.pem'}")


@ca.command("list")
@click.option("--expiring", type=float, help="Only certificates expiring within N days")
@click.pass_context
def ca_list(ctx: click.Context, expiring: float | None) -> None:
    """The certificates in the PKI directory, with their expiry."""
    directory = _dir(ctx)
    if not directory.path.is_dir():
        raise click.ClickException("No PKI directory yet: run `watthub ca init`")
    for file in sorted(directory.path.glob("*.pem")):
        summary = pki.summarize_certificate(file.read_bytes())
        if expiring is not None and summary.days_left() > expiring:
            continue
        click.echo(
            f"{file.name:<24} {summary.subject:<50} {summary.key:<14} "
            f"until {summary.not_after:%Y-%m-%d} ({summary.days_left():.0f} days)"
        )


def _api(
    ctx: click.Context, api_url: str | None, token: str, method: str, path: str, body: Any = None
) -> Any:
    import httpx

    base = api_url or settings_of(ctx).api_url()
    response = httpx.request(
        method,
        f"{base}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=settings_of(ctx).call_timeout + 10,
    )
    if response.status_code >= 400:
        raise click.ClickException(f"HTTP {response.status_code}: {response.text}")
    return response.json()


def register(main: click.Group) -> None:
    main.add_command(ca)
    station = main.commands["station"]
    assert isinstance(station, click.Group)

    @station.command("rotate-password")
    @click.argument("station_id")
    @click.option("--api-url", envvar="WATTHUB_API_URL", help="Default: from settings")
    @click.option("--token", "api_token", envvar="WATTHUB_API_TOKEN", required=True)
    @click.pass_context
    def rotate_password(
        ctx: click.Context, station_id: str, api_url: str | None, api_token: str
    ) -> None:
        """Generate a new password and set it on the (connected) station; WattHub switches to
        it only when the station accepts."""
        answer = _api(ctx, api_url, api_token, "POST", f"/stations/{station_id}/rotate-password")
        click.echo(json.dumps(answer, indent=2))

    @station.command("set-profile")
    @click.argument("station_id")
    @click.argument("profile", type=click.IntRange(0, 3))
    @click.option("--reason", required=True, help="Kept in the audit trail")
    @click.pass_context
    def set_profile(ctx: click.Context, station_id: str, profile: int, reason: str) -> None:
        """Set the security profile WattHub accepts (the only way to lower it; audited)."""
        from watthub.storage import security_repo

        async def op(conn: AsyncConnection) -> int | None:
            return await security_repo.change_profile(conn, station_id, profile, "operator", reason)

        old = run_async(with_db(settings_of(ctx), op))
        if old is None:
            raise click.ClickException(f"Station {station_id} is not registered")
        click.echo(f"Station {station_id}: security profile {old} → {profile}")
