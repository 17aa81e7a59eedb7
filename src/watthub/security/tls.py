"""``ssl.SSLContext`` builders for OCPP 1.6 security profiles 2 (TLS + Basic auth) and
3 (mutual TLS), plus client-certificate checks for profile 3.

Usage with ``websockets``: pass the context as ``ssl=`` to ``serve()``; in the connection
handler ``connection.transport.get_extra_info("ssl_object")`` yields the ``ssl.SSLObject`` for
:func:`peer_certificate_info` / :func:`check_client_certificate`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

# Whitepaper ed.3 A00.FR.317/318 and OCTT TC_086/087: the Central System must support
# TLS_ECDHE_ECDSA_WITH_AES_{128,256}_GCM_* (needs an ECDSA certificate) and
# TLS_RSA_WITH_AES_{128,256}_GCM_* (static RSA key exchange, needs an RSA certificate).
# The ECDHE-RSA variants give RSA-only stations forward secrecy, so they are offered as well
# and ordered before the static-RSA ones (server preference is enforced).
TLS12_ECDHE_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
)
TLS12_STATIC_RSA_CIPHERS: tuple[str, ...] = ("AES128-GCM-SHA256", "AES256-GCM-SHA384")

SecurityProfile = Literal[2, 3]


@dataclass(frozen=True)
class ServerCredential:
    """A server certificate file (leaf first, then intermediates) and its private key file."""

    cert_file: str | os.PathLike[str]
    key_file: str | os.PathLike[str]
    password: str | bytes | None = None


def tls12_ciphers(*, static_rsa: bool = True) -> tuple[str, ...]:
    return TLS12_ECDHE_CIPHERS + (TLS12_STATIC_RSA_CIPHERS if static_rsa else ())


def create_server_context(
    credentials: Sequence[ServerCredential],
    *,
    security_profile: SecurityProfile = 2,
    client_ca_file: str | os.PathLike[str] | None = None,
    client_ca_pem: str | None = None,
    static_rsa: bool = True,
    allow_tls13: bool = True,
) -> ssl.SSLContext:
    """Build the CSMS server context.

    ``credentials``: one or two server certificates; load an RSA *and* an ECDSA certificate to
    serve all four whitepaper suites (OpenSSL picks the one matching the negotiated suite).
    Profile 3 additionally requires a client certificate that chains to ``client_ca_file`` /
    ``client_ca_pem`` (the CA that signs station CSRs). ``static_rsa=False`` drops the
    non-forward-secret TLS_RSA suites (not OCTT-conformant, but stricter).
    """
    if not credentials:
        raise ValueError("at least one server certificate is required")
    if security_profile not in (2, 3):
        raise ValueError("TLS is only used by security profiles 2 and 3")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # A00.FR.310: TLS 1.2 or higher only; TLS 1.0/1.1 legacy fallback is intentionally absent.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if allow_tls13 else ssl.TLSVersion.TLSv1_2
    # set_ciphers() only governs TLS <= 1.2; OpenSSL's TLS 1.3 suites are all AEAD and stay on.
    ctx.set_ciphers(":".join(tls12_ciphers(static_rsa=static_rsa)))
    ctx.options |= ssl.OP_NO_COMPRESSION  # A00.FR.314 (CRIME); already OpenSSL's default
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE  # prefer forward-secret suites
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    for cred in credentials:
        ctx.load_cert_chain(cred.cert_file, cred.key_file, password=cred.password)
    if security_profile == 3:
        if client_ca_file is None and client_ca_pem is None:
            raise ValueError("security profile 3 needs the CA that issues station certificates")
        ctx.load_verify_locations(cafile=client_ca_file, cadata=client_ca_pem)
        ctx.verify_mode = ssl.CERT_REQUIRED  # A00.FR.407: no/invalid certificate -> no session
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def profile2_server_context(
    credentials: Sequence[ServerCredential], *, static_rsa: bool = True, allow_tls13: bool = True
) -> ssl.SSLContext:
    """Security profile 2: TLS with server authentication; stations use HTTP Basic auth."""
    return create_server_context(
        credentials, security_profile=2, static_rsa=static_rsa, allow_tls13=allow_tls13
    )


def profile3_server_context(
    credentials: Sequence[ServerCredential],
    *,
    client_ca_file: str | os.PathLike[str] | None = None,
    client_ca_pem: str | None = None,
    static_rsa: bool = True,
    allow_tls13: bool = True,
) -> ssl.SSLContext:
    """Security profile 3: mutual TLS; the station authenticates with its certificate."""
    return create_server_context(
        credentials,
        security_profile=3,
        client_ca_file=client_ca_file,
        client_ca_pem=client_ca_pem,
        static_rsa=static_rsa,
        allow_tls13=allow_tls13,
    )


# --------------------------------------------------------------------------------------------
# Client certificate (security profile 3)

SSLConnection = ssl.SSLObject | ssl.SSLSocket


@dataclass(frozen=True)
class PeerCertificateInfo:
    common_name: str | None
    organization: str | None
    serial_number: str  # certificate serial, lowercase hex without leading zeroes
    issuer_common_name: str | None
    not_after: str  # as reported by OpenSSL, e.g. "Nov 25 09:00:00 2027 GMT"


def _rdn_values(rdns: Any, key: str) -> list[str]:
    # getpeercert() shapes names as ((('commonName', 'x'),), (('organizationName', 'y'),), ...)
    values: list[str] = []
    for rdn in rdns or ():
        for attr in rdn:
            if len(attr) == 2 and attr[0] == key:
                values.append(str(attr[1]))
    return values


def peer_certificate(conn: SSLConnection) -> x509.Certificate | None:
    """The peer certificate as a ``cryptography`` object (works with any verify mode)."""
    der = conn.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def peer_certificate_info(source: SSLConnection | Mapping[str, Any]) -> PeerCertificateInfo | None:
    """Subject CN/O, serial and issuer CN of the client certificate.

    ``source`` is a connected ``ssl.SSLObject``/``SSLSocket`` or a ``getpeercert()`` dict.
    Returns ``None`` when no verified certificate is available.
    """
    cert = source if isinstance(source, Mapping) else source.getpeercert()
    if not cert:
        return None
    cns = _rdn_values(cert.get("subject"), "commonName")
    orgs = _rdn_values(cert.get("subject"), "organizationName")
    issuer_cns = _rdn_values(cert.get("issuer"), "commonName")
    serial_hex = str(cert.get("serialNumber", "0"))
    return PeerCertificateInfo(
        common_name=cns[0] if cns else None,
        organization=orgs[0] if orgs else None,
        serial_number=format(int(serial_hex, 16), "x"),
        issuer_common_name=issuer_cns[0] if issuer_cns else None,
        not_after=str(cert.get("notAfter", "")),
    )


def check_client_certificate(
    cert_dict: Mapping[str, Any] | None,
    station_id: str,
    expected_serial: str | None = None,
    cpo_name: str | None = None,
    *,
    check_cn: bool = True,
) -> str | None:
    """Check a verified client certificate (``getpeercert()`` dict) against a station.

    Returns ``None`` if acceptable, otherwise the rejection reason (log it and a security event,
    then refuse the WebSocket upgrade):

    * CN must equal ``expected_serial`` (A00.FR.405: CN = the station's serial number); when
      the serial is unknown, CN must equal ``station_id`` (the usual deployment convention).
    * if ``cpo_name`` is given, O must equal it (A00.FR.404).
    * ``check_cn=False`` and ``cpo_name=None`` give OCTT mode: chain validation only.

    Chain and validity are verified by OpenSSL during the handshake (``CERT_REQUIRED``); a
    ``getpeercert()`` dict is only non-empty for a verified certificate.
    """
    info = peer_certificate_info(cert_dict) if cert_dict else None
    if info is None:
        return "no verified client certificate"
    if check_cn:
        expected = expected_serial if expected_serial is not None else station_id
        if info.common_name is None:
            return "client certificate has no subject CN"
        if info.common_name != expected:
            what = "serial number" if expected_serial is not None else "station id"
            return (
                f"client certificate CN {info.common_name!r} does not match the station "
                f"{what} {expected!r}"
            )
    if cpo_name is not None and info.organization != cpo_name:
        return f"client certificate O {info.organization!r} does not match CPO name {cpo_name!r}"
    return None


def certificate_common_name(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


__all__ = [
    "TLS12_ECDHE_CIPHERS",
    "TLS12_STATIC_RSA_CIPHERS",
    "PeerCertificateInfo",
    "ServerCredential",
    "certificate_common_name",
    "check_client_certificate",
    "create_server_context",
    "peer_certificate",
    "peer_certificate_info",
    "profile2_server_context",
    "profile3_server_context",
    "tls12_ciphers",
]
