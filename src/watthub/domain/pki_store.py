"""Where WattHub keeps its PKI (``settings.data_dir/pki``) and what it builds from it: the TLS
server context, the CA that signs station CSRs and the firmware-signing key.

An external CA can sign station CSRs instead of the local one: set ``external_ca_command``; it
receives the CSR (PEM) on stdin and ``WATTHUB_STATION_ID`` / ``WATTHUB_STATION_SERIAL`` /
``WATTHUB_EXPECTED_CN`` in its environment and prints the certificate chain (PEM, leaf first)."""

from __future__ import annotations

import asyncio
import os
import ssl

from watthub.config import Settings
from watthub.security import pki
from watthub.security.tls import ServerCredential, create_server_context


def ca_dir(settings: Settings) -> pki.CaDirectory:
    return pki.CaDirectory(settings.pki_dir())


def signing_ca(settings: Settings) -> pki.CertificateAuthority | None:
    """The CA that signs station certificates: the sub-CA when there is one, else the root."""
    directory = ca_dir(settings)
    for name in (pki.CaDirectory.SUB_CA, pki.CaDirectory.ROOT_CA):
        if directory.exists(name) and directory.key_path(name).is_file():
            return directory.load_ca(name)
    return None


def can_sign_csr(settings: Settings) -> bool:
    return bool(settings.external_ca_command) or signing_ca(settings) is not None


async def sign_csr(settings: Settings, station_id: str, serial: str | None, csr_pem: str) -> str:
    """Sign a station CSR; returns the PEM chain (``\\n`` line endings). Raises
    :class:`pki.CsrRejected` when it cannot be signed."""
    expected_cn = serial if settings.csr_cn_source == "serial" and serial else station_id
    if settings.external_ca_command:
        return await _external_sign(
            settings.external_ca_command, station_id, serial, expected_cn, csr_pem
        )
    ca = signing_ca(settings)
    if ca is None:
        raise pki.CsrRejected("no CA configured (watthub ca init)")
    policy = pki.StationCsrPolicy(
        cn_check=settings.csr_cn_check,
        o_check="reject" if settings.tls_client_cpo_check else "ignore",
        validity_days=settings.station_cert_validity_days,
    )
    issued = await asyncio.to_thread(
        pki.sign_station_csr,
        ca,
        csr_pem,
        serial_number=expected_cn,
        cpo_name=settings.cpo_name,
        policy=policy,
    )
    return issued.chain_pem


async def _external_sign(
    command: str, station_id: str, serial: str | None, expected_cn: str, csr_pem: str
) -> str:
    env = {
        **os.environ,
        "WATTHUB_STATION_ID": station_id,
        "WATTHUB_STATION_SERIAL": serial or "",
        "WATTHUB_EXPECTED_CN": expected_cn,
    }
    proc = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(csr_pem.encode()), 60)
    if proc.returncode != 0:
        raise pki.CsrRejected(f"external CA failed: {err.decode(errors='replace')[:200]}")
    try:
        return pki.certificates_to_pem(pki.load_certificates(out))
    except ValueError as exc:
        raise pki.CsrRejected(f"external CA printed no certificate: {exc}") from exc


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The wss:// server context. With a client CA, client certificates are *optional* at the
    TLS level so profile 2 and 3 stations share the port; the handshake check then requires a
    verified certificate from profile 3 stations (an invalid certificate still fails TLS)."""
    credentials = []
    if settings.tls_cert_file and settings.tls_key_file:
        credentials.append(ServerCredential(settings.tls_cert_file, settings.tls_key_file))
    if settings.tls_ecdsa_cert_file and settings.tls_ecdsa_key_file:
        credentials.append(
            ServerCredential(settings.tls_ecdsa_cert_file, settings.tls_ecdsa_key_file)
        )
    if not credentials:
        raise ValueError("tls_port is set but no tls_cert_file/tls_key_file")
    if settings.tls_client_ca_file:
        ctx = create_server_context(
            credentials, security_profile=3, client_ca_file=settings.tls_client_ca_file
        )
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx
    return create_server_context(credentials, security_profile=2)
