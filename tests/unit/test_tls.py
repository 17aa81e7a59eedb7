"""Tests for watthub.security.tls: real TLS handshakes on 127.0.0.1 with asyncio."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from watthub.security import pki, tls
from watthub.security.keys import generate_private_key

STATION_ID = "CP-0001"
STATION_SERIAL = "SN-4711"
CPO = "WattHub CPO"


@dataclass
class Pki:
    root: pki.CertificateAuthority
    root_file: Path
    creds: list[tls.ServerCredential]
    station_cert: Path
    station_key: Path
    foreign_cert: Path
    foreign_key: Path


def _station_cert(ca: pki.CertificateAuthority, cadir: pki.CaDirectory, name: str) -> None:
    key = generate_private_key("ec-p256")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(pki.build_name(STATION_SERIAL, CPO))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    issued = pki.sign_station_csr(ca, csr, serial_number=STATION_SERIAL, cpo_name=CPO)
    cadir.save(name, issued.certificate, chain=issued.intermediates, private_key=key)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    cadir = pki.CaDirectory(tmp_path_factory.mktemp("ca"))
    root = pki.create_root_ca("TLS Test Root", key_type="ec-p256")
    sub = pki.create_sub_ca(root, "TLS Test Sub CA", key_type="ec-p256")
    cadir.save_ca(cadir.ROOT_CA, root)
    extra = ["localhost", "127.0.0.1"]
    rsa_srv = pki.issue_server_certificate(sub, "csms.test", extra_names=extra, key_type="rsa-2048")
    ec_srv = pki.issue_server_certificate(sub, "csms.test", extra_names=extra, key_type="ec-p256")
    cadir.save_issued(cadir.SERVER_RSA, rsa_srv, key_password="srv-pw")
    cadir.save_issued(cadir.SERVER_ECDSA, ec_srv)
    _station_cert(sub, cadir, "station")  # chain: station + sub CA
    _station_cert(pki.create_root_ca("Foreign Root", key_type="ec-p256"), cadir, "foreign")
    return Pki(
        root=root,
        root_file=cadir.cert_path(cadir.ROOT_CA),
        creds=[
            tls.ServerCredential(
                cadir.cert_path(cadir.SERVER_RSA), cadir.key_path(cadir.SERVER_RSA), "srv-pw"
            ),
            tls.ServerCredential(
                cadir.cert_path(cadir.SERVER_ECDSA), cadir.key_path(cadir.SERVER_ECDSA)
            ),
        ],
        station_cert=cadir.cert_path("station"),
        station_key=cadir.key_path("station"),
        foreign_cert=cadir.cert_path("foreign"),
        foreign_key=cadir.key_path("foreign"),
    )


@dataclass
class Server:
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)


@asynccontextmanager
async def serve(ctx: ssl.SSLContext) -> AsyncIterator[Server]:
    state = Server(port=0)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Only reached after a completed handshake (asyncio runs it post-handshake).
        ssl_object = writer.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert()
        state.seen.append(
            {"version": ssl_object.version(), "cipher": ssl_object.cipher()[0], "peer": peer}
        )
        info = tls.peer_certificate_info(ssl_object)
        writer.write(f"OK {info.common_name if info else '-'}\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


def client_context(env: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(env.root_file))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


async def talk(port: int, ctx: ssl.SSLContext) -> tuple[bytes, ssl.SSLObject]:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 10
    )
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
        return line, writer.get_extra_info("ssl_object")
    finally:
        writer.close()


async def refused(port: int, ctx: ssl.SSLContext) -> bool:
    """True if the server refused: the handshake failed or the server sent nothing."""
    try:
        line, _ = await talk(port, ctx)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return line == b""


# ----------------------------------------------------------------------------- contexts


def test_context_settings(env: Pki) -> None:
    ctx = tls.profile2_server_context(env.creds)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.options & ssl.OP_NO_COMPRESSION
    names = {c["name"] for c in ctx.get_ciphers()}
    required = {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",  # TLS_RSA_WITH_AES_128_GCM_SHA256 (whitepaper / OCTT TC_086)
        "AES256-GCM-SHA384",  # TLS_RSA_WITH_AES_256_GCM_SHA384
    }
    assert required <= names
    tls12_names = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12_names == required  # nothing weaker (no CBC, no SHA1, no DHE)
    strict = tls.profile2_server_context(env.creds, static_rsa=False)
    assert "AES128-GCM-SHA256" not in {c["name"] for c in strict.get_ciphers()}
    p3 = tls.profile3_server_context(env.creds, client_ca_file=env.root_file)
    assert p3.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ValueError, match="profile 3"):
        tls.profile3_server_context(env.creds)
    with pytest.raises(ValueError, match="at least one"):
        tls.profile2_server_context([])


# ----------------------------------------------------------------------------- profile 2


async def test_profile2_handshake(env: Pki) -> None:
    async with serve(tls.profile2_server_context(env.creds)) as server:
        line, ssl_obj = await talk(server.port, client_context(env))
    assert line == b"OK -\n"  # no client certificate on profile 2
    assert ssl_obj.version() in ("TLSv1.2", "TLSv1.3")
    peer = ssl_obj.getpeercert()
    assert dict(x[0] for x in peer["subject"])["commonName"] == "csms.test"
    assert server.seen and server.seen[0]["peer"] is None


@pytest.mark.parametrize(
    ("suite", "key_class"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", ec.EllipticCurvePublicKey),
        ("ECDHE-ECDSA-AES256-GCM-SHA384", ec.EllipticCurvePublicKey),
        ("ECDHE-RSA-AES128-GCM-SHA256", rsa.RSAPublicKey),
        ("ECDHE-RSA-AES256-GCM-SHA384", rsa.RSAPublicKey),
        ("AES128-GCM-SHA256", rsa.RSAPublicKey),
        ("AES256-GCM-SHA384", rsa.RSAPublicKey),
    ],
)
async def test_profile2_each_tls12_suite(env: Pki, suite: str, key_class: type) -> None:
    client = client_context(env)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers(suite)
    async with serve(tls.profile2_server_context(env.creds)) as server:
        line, ssl_obj = await talk(server.port, client)
    assert line == b"OK -\n"
    assert ssl_obj.version() == "TLSv1.2"
    assert ssl_obj.cipher()[0] == suite
    # The server picked the certificate matching the suite (RSA and ECDSA loaded together).
    server_cert = tls.peer_certificate(ssl_obj)
    assert server_cert is not None and isinstance(server_cert.public_key(), key_class)


def old_tls_client(env: Pki, version: ssl.TLSVersion) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = client_context(env)
        client.minimum_version = version
        client.maximum_version = version
        client.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client really offer TLS 1.0/1.1
    return client


def memory_handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[Exception | None, Exception | None]:
    """Run a handshake through memory BIOs; return (server error, client error)."""
    bios = [ssl.MemoryBIO() for _ in range(4)]
    c_in, c_out, s_in, s_out = bios
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    errors: list[Exception | None] = [None, None]
    done = [False, False]
    for _ in range(20):
        for i, (obj, out, peer_in) in enumerate(((server, s_out, c_in), (client, c_out, s_in))):
            if done[i] or errors[i]:
                continue
            try:
                obj.do_handshake()
                done[i] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                errors[i] = exc
            peer_in.write(out.read())
        if all(done) or all(errors) or (any(errors) and not c_in.pending and not s_in.pending):
            break
    return errors[0], errors[1]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
async def test_profile2_refuses_old_tls(env: Pki, version: ssl.TLSVersion) -> None:
    client = old_tls_client(env, version)
    async with serve(tls.profile2_server_context(env.creds)) as server:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await talk(server.port, client)
        assert server.seen == []  # the handshake never completed on the server


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_profile2_old_tls_refused_because_of_version(env: Pki, version: ssl.TLSVersion) -> None:
    # asyncio resets the socket on a failed handshake, hiding the TLS alert; memory BIOs show
    # that the server itself refused the protocol version (the client did offer it).
    server_err, client_err = memory_handshake(
        tls.profile2_server_context(env.creds), old_tls_client(env, version)
    )
    assert server_err is not None and "UNSUPPORTED_PROTOCOL" in str(server_err).upper()
    assert client_err is not None and "PROTOCOL VERSION" in str(client_err).upper()
    # Control: the same machinery completes a TLS 1.2 handshake.
    assert memory_handshake(tls.profile2_server_context(env.creds), client_context(env)) == (
        None,
        None,
    )


async def test_profile2_client_rejects_unknown_root(env: Pki) -> None:
    other = pki.create_root_ca("Unrelated", key_type="ec-p256")
    client = ssl.create_default_context(cadata=other.root_pem)
    async with serve(tls.profile2_server_context(env.creds)) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await talk(server.port, client)


# ----------------------------------------------------------------------------- profile 3


async def test_profile3_mutual_tls(env: Pki) -> None:
    ctx = tls.profile3_server_context(env.creds, client_ca_pem=env.root.root_pem)
    with_cert = client_context(env)
    with_cert.load_cert_chain(env.station_cert, env.station_key)
    foreign = client_context(env)
    foreign.load_cert_chain(env.foreign_cert, env.foreign_key)
    async with serve(ctx) as server:
        assert await refused(server.port, client_context(env))  # no client certificate
        assert await refused(server.port, foreign)  # certificate from another CA
        assert server.seen == []
        line, _ = await talk(server.port, with_cert)
    assert line == f"OK {STATION_SERIAL}\n".encode()
    peer = server.seen[0]["peer"]
    assert tls.check_client_certificate(peer, STATION_ID, STATION_SERIAL, CPO) is None
    info = tls.peer_certificate_info(peer)
    assert info is not None
    assert info.organization == CPO and info.issuer_common_name == "TLS Test Sub CA"
    station = x509.load_pem_x509_certificates(env.station_cert.read_bytes())[0]
    assert info.serial_number == format(station.serial_number, "x")
    reason = tls.check_client_certificate(peer, STATION_ID, "SN-OTHER")
    assert reason is not None and "SN-OTHER" in reason
    # Without a known serial, the station id is the expected CN.
    reason = tls.check_client_certificate(peer, STATION_ID)
    assert reason is not None and "station id" in reason
    assert tls.check_client_certificate(peer, STATION_ID, check_cn=False) is None


# ----------------------------------------------------------------------------- checker


def _cert_dict(cn: str | None, org: str | None = None, serial: str = "00AB12") -> dict[str, Any]:
    subject = []
    if org:
        subject.append((("organizationName", org),))
    if cn:
        subject.append((("commonName", cn),))
    return {
        "subject": tuple(subject),
        "issuer": ((("commonName", "Some CA"),),),
        "serialNumber": serial,
        "notAfter": "Nov 25 09:00:00 2027 GMT",
    }


def test_check_client_certificate_rules() -> None:
    assert tls.check_client_certificate(None, STATION_ID) == "no verified client certificate"
    assert tls.check_client_certificate({}, STATION_ID) == "no verified client certificate"
    assert tls.check_client_certificate(_cert_dict(STATION_ID), STATION_ID) is None
    assert "no subject CN" in (tls.check_client_certificate(_cert_dict(None), STATION_ID) or "")
    assert tls.check_client_certificate(_cert_dict("SN-1"), STATION_ID, "SN-1") is None
    reason = tls.check_client_certificate(_cert_dict("SN-1", "Other"), STATION_ID, "SN-1", CPO)
    assert reason is not None and "CPO name" in reason
    assert tls.check_client_certificate(_cert_dict("SN-1", CPO), STATION_ID, "SN-1", CPO) is None
    # OCTT mode: no CN and no O check.
    assert tls.check_client_certificate(_cert_dict("x"), STATION_ID, check_cn=False) is None
    info = tls.peer_certificate_info(_cert_dict("SN-1", serial="00AB12"))
    assert info is not None and info.serial_number == "ab12"
    assert info.issuer_common_name == "Some CA"
    assert tls.peer_certificate_info({}) is None
