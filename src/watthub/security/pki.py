"""Built-in certificate authority for OCPP 1.6 security profiles 2 and 3.

Covers the CSMS side of the Security Whitepaper (edition 3): root/sub CA, the Central System
server certificate (CN = FQDN), signing station CSRs (SignCertificate.req -> CertificateSigned.req),
CertificateHashDataType (whitepaper §6.1) and a small PEM directory layout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import tempfile
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .keys import (
    KeyType,
    PrivateKey,
    PublicKey,
    describe_key,
    generate_private_key,
    key_strength_problem,
    load_private_key,
    private_key_to_pem,
    public_keys_equal,
)

CertificateLike: TypeAlias = x509.Certificate | str | bytes
HashAlgorithm: TypeAlias = Literal["SHA256", "SHA384", "SHA512"]
NameCheck: TypeAlias = Literal["reject", "override", "ignore"]

HASH_ALGORITHMS: tuple[HashAlgorithm, ...] = ("SHA256", "SHA384", "SHA512")
# CertificateSigned.req: certificateChain is limited to 10000 characters (or the station's
# CertificateSignedMaxChainSize, which the caller may pass in the policy).
MAX_CERTIFICATE_CHAIN_CHARS = 10000
# Stations often have poorly synchronised clocks until their first BootNotification response;
# backdating notBefore avoids "certificate not yet valid" right after issuing.
_BACKDATE = dt.timedelta(minutes=5)


# --------------------------------------------------------------------------------------------
# PEM helpers


def normalize_pem(text: str | bytes) -> str:
    """Return PEM text with ``\\n`` line endings only and a trailing newline.

    The OCTT cannot parse ``\\r\\n`` PEM, and some proxies/UIs percent-encode PEM bodies.
    """
    s = text.decode("ascii") if isinstance(text, bytes) else text
    if "%" in s:  # never part of PEM (base64 alphabet), so it must be percent-encoding
        s = urllib.parse.unquote(s)
    s = s.replace("\r\n", "\n").replace("\r", "\n").strip()
    return s + "\n" if s else ""


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Parse every certificate of a PEM bundle (order preserved)."""
    certs = x509.load_pem_x509_certificates(normalize_pem(pem).encode("ascii"))
    return list(certs)


def load_certificate(pem: CertificateLike) -> x509.Certificate:
    """Accept a certificate object or PEM text and return the first certificate."""
    if isinstance(pem, x509.Certificate):
        return pem
    return load_certificates(pem)[0]


def certificate_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii").replace("\r\n", "\n")


def certificates_to_pem(certs: Iterable[x509.Certificate]) -> str:
    return "".join(certificate_to_pem(c) for c in certs)


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when the certificate is self-issued and its signature verifies with its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bc.ca


# --------------------------------------------------------------------------------------------
# Certificate authority and issued certificates


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate issued by a :class:`CertificateAuthority`.

    ``intermediates`` are the CA certificates a peer needs to build the path to the root
    (issuer first, root excluded) - i.e. what goes after the leaf in a PEM chain.
    """

    certificate: x509.Certificate
    intermediates: tuple[x509.Certificate, ...] = ()
    private_key: PrivateKey | None = None

    @property
    def cert_pem(self) -> str:
        return certificate_to_pem(self.certificate)

    @property
    def chain_pem(self) -> str:
        """Leaf + intermediates, ``\\n`` line endings (CertificateSigned.req certificateChain)."""
        return certificates_to_pem((self.certificate, *self.intermediates))

    def key_pem(self, password: bytes | str | None = None) -> str:
        if self.private_key is None:
            raise ValueError("this certificate was issued from a CSR; the CSMS has no key")
        return private_key_to_pem(self.private_key, password)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate with its private key.

    ``parents`` holds the certificates above this CA (its issuer first, up to and including the
    root); empty for a root CA.
    """

    certificate: x509.Certificate
    private_key: PrivateKey
    parents: tuple[x509.Certificate, ...] = ()

    @property
    def is_root(self) -> bool:
        return is_self_signed(self.certificate)

    @property
    def root(self) -> x509.Certificate:
        """The trust anchor: this certificate for a root CA, else the last self-signed parent."""
        for cert in (self.certificate, *self.parents):
            if is_self_signed(cert):
                return cert
        # Imported sub-CA without its root: the top-most certificate we know.
        return (self.certificate, *self.parents)[-1]

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """Certificates to send after a leaf issued by this CA (all non-root CAs)."""
        return tuple(c for c in (self.certificate, *self.parents) if not is_self_signed(c))

    @property
    def cert_pem(self) -> str:
        return certificate_to_pem(self.certificate)

    @property
    def root_pem(self) -> str:
        """The CentralSystemRootCertificate to install on stations (InstallCertificate.req)."""
        return certificate_to_pem(self.root)

    def key_pem(self, password: bytes | str | None = None) -> str:
        return private_key_to_pem(self.private_key, password)

    def sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """Sign with SHA-256: PKCS#1 v1.5 for RSA (not PSS: the OCTT rejects RSA-PSS), ECDSA
        for EC issuers."""
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return builder.sign(self.private_key, hashes.SHA256(), rsa_padding=padding.PKCS1v15())
        return builder.sign(self.private_key, hashes.SHA256())


def build_name(
    common_name: str, organization: str | None = None, country: str | None = None
) -> x509.Name:
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _key_usage(
    *, digital_signature: bool = False, key_encipherment: bool = False, cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _validity(
    validity_days: int, issuer: x509.Certificate | None, now: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    if validity_days <= 0:
        raise ValueError("validity_days must be positive")
    start = (now or _now()) - _BACKDATE
    end = start + _BACKDATE + dt.timedelta(days=validity_days)
    # A certificate must not outlive its issuer, or path validation fails once the CA expires.
    if issuer is not None:
        end = min(end, issuer.not_valid_after_utc)
    return start, end


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _builder(
    subject: x509.Name,
    public_key: object,
    issuer: CertificateAuthority | None,
    validity_days: int,
    now: dt.datetime | None,
) -> x509.CertificateBuilder:
    start, end = _validity(validity_days, issuer.certificate if issuer else None, now)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
    )
    if issuer is not None:
        builder = builder.add_extension(_authority_key_id(issuer.certificate), critical=False)
    return builder


def create_root_ca(
    common_name: str = "WattHub Root CA",
    *,
    organization: str | None = None,
    country: str | None = None,
    key_type: KeyType = "rsa-4096",
    validity_days: int = 3650 * 2,
    now: dt.datetime | None = None,
) -> CertificateAuthority:
    """Create a self-signed root CA (the CentralSystemRootCertificate installed on stations)."""
    key = generate_private_key(key_type)
    subject = build_name(common_name, organization, country)
    builder = (
        _builder(subject, key.public_key(), None, validity_days, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
    )
    ca = CertificateAuthority(certificate=builder.sign(key, hashes.SHA256()), private_key=key)
    return ca


def create_sub_ca(
    parent: CertificateAuthority,
    common_name: str = "WattHub Sub CA",
    *,
    organization: str | None = None,
    country: str | None = None,
    key_type: KeyType = "ec-p384",
    validity_days: int = 3650,
    path_length: int | None = 0,
    now: dt.datetime | None = None,
) -> CertificateAuthority:
    """Create an intermediate CA signed by ``parent`` (path_length=0: it may only issue leaves)."""
    key = generate_private_key(key_type)
    builder = (
        _builder(
            build_name(common_name, organization, country),
            key.public_key(),
            parent,
            validity_days,
            now,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
    )
    return CertificateAuthority(
        certificate=parent.sign(builder),
        private_key=key,
        parents=(parent.certificate, *parent.parents),
    )


def import_ca(
    cert_pem: str | bytes,
    key_pem: str | bytes,
    *,
    password: bytes | str | None = None,
    parents_pem: str | bytes | None = None,
) -> CertificateAuthority:
    """Import an existing CA. ``cert_pem`` may itself contain the parent chain after the CA cert.

    Raises ``ValueError`` if the key does not match, the certificate is not a CA or is too weak.
    """
    certs = load_certificates(cert_pem)
    if parents_pem:
        certs += load_certificates(parents_pem)
    key = load_private_key(key_pem, password)
    cert = certs[0]
    if not public_keys_equal(cert.public_key(), key.public_key()):
        raise ValueError("the private key does not belong to the CA certificate")
    if not _is_ca(cert):
        raise ValueError("the certificate is not a CA certificate (BasicConstraints CA:TRUE)")
    if problem := key_strength_problem(key):
        raise ValueError(f"CA key too weak: {problem}")
    return CertificateAuthority(certificate=cert, private_key=key, parents=tuple(certs[1:]))


def issue_certificate(
    ca: CertificateAuthority,
    subject: x509.Name,
    public_key: PublicKey,
    *,
    extended_key_usage: Sequence[x509.ObjectIdentifier],
    validity_days: int,
    subject_alt_names: Sequence[x509.GeneralName] = (),
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Issue an end-entity certificate (CA:FALSE) for ``public_key``, signed by ``ca``."""
    # keyEncipherment only for RSA: it is what static-RSA TLS key exchange needs.
    usage = _key_usage(
        digital_signature=True, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)
    )
    builder = (
        _builder(subject, public_key, ca, validity_days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False)
    )
    if subject_alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(subject_alt_names)), critical=False
        )
    return ca.sign(builder)


def issue_server_certificate(
    ca: CertificateAuthority,
    fqdn: str,
    *,
    extra_names: Sequence[str] = (),
    organization: str | None = None,
    key_type: KeyType = "rsa-2048",
    validity_days: int = 397,
    now: dt.datetime | None = None,
) -> IssuedCertificate:
    """Issue the Central System TLS certificate: CN = FQDN (A00.FR.507), SAN = FQDN + extras.

    ``extra_names`` may mix DNS names and IP literals (``"localhost"``, ``"127.0.0.1"``). For
    security profile 2/3 with both ECDSA and RSA cipher suites, issue two certificates (one
    ``rsa-*``, one ``ec-p256``) and load both into the TLS context.
    """
    if not fqdn or "://" in fqdn or "/" in fqdn:
        raise ValueError(f"invalid FQDN {fqdn!r}")
    key = generate_private_key(key_type)
    if problem := key_strength_problem(key):
        raise ValueError(problem)
    sans: list[x509.GeneralName] = []
    for name in (fqdn, *extra_names):
        try:
            general: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            general = x509.DNSName(name)
        if general not in sans:
            sans.append(general)
    cert = issue_certificate(
        ca,
        build_name(fqdn, organization),
        key.public_key(),
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        validity_days=validity_days,
        subject_alt_names=sans,
        now=now,
    )
    return IssuedCertificate(cert, ca.intermediates, key)


# --------------------------------------------------------------------------------------------
# Station CSR signing (SignCertificate.req -> CertificateSigned.req)


class CsrRejected(ValueError):
    """The CSR cannot be signed; ``reason`` is suitable for logs / SignCertificate.conf."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StationCsrPolicy:
    """How strictly to treat a station CSR.

    ``cn_check`` compares the CSR subject CN with the station serial number (A00.FR.405):
    ``reject`` refuses a mismatch, ``override`` issues the certificate with CN = serial anyway
    (OCTT mode: the OCTT's CSR content cannot be trusted to match), ``ignore`` keeps the CSR CN.
    ``o_check`` does the same for O vs the CPO name (A00.FR.404); the default is ``ignore``
    because the OCTT does not expose CpoName.
    """

    cn_check: NameCheck = "reject"
    o_check: NameCheck = "ignore"
    validity_days: int = 365
    max_chain_chars: int = MAX_CERTIFICATE_CHAIN_CHARS


def _first_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _replace_attr(name: x509.Name, oid: x509.ObjectIdentifier, value: str) -> x509.Name:
    rdns: list[x509.RelativeDistinguishedName] = []
    found = False
    for rdn in name.rdns:
        attrs = []
        for attr in rdn:
            if attr.oid == oid:
                if found:
                    continue  # drop duplicates: exactly one CN/O in the issued certificate
                attrs.append(x509.NameAttribute(oid, value))
                found = True
            else:
                attrs.append(attr)
        if attrs:
            rdns.append(x509.RelativeDistinguishedName(attrs))
    if not found:
        rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, value)]))
    return x509.Name(rdns)


def _apply_name_check(
    subject: x509.Name,
    oid: x509.ObjectIdentifier,
    label: str,
    expected: str | None,
    mode: NameCheck,
) -> x509.Name:
    actual = _first_attr(subject, oid)
    if mode == "ignore":
        return subject
    if expected is None:
        raise CsrRejected(f"cannot check the CSR {label}: the expected value is not configured")
    if actual == expected:
        return subject
    if mode == "reject":
        raise CsrRejected(f"CSR {label} {actual!r} does not match the expected {expected!r}")
    return _replace_attr(subject, oid, expected)


def load_csr(csr_pem: str | bytes) -> x509.CertificateSigningRequest:
    try:
        return x509.load_pem_x509_csr(normalize_pem(csr_pem).encode("ascii"))
    except ValueError as exc:
        raise CsrRejected(f"invalid CSR PEM: {exc}") from exc


def sign_station_csr(
    ca: CertificateAuthority,
    csr_pem: str | bytes,
    *,
    serial_number: str | None,
    cpo_name: str | None = None,
    policy: StationCsrPolicy | None = None,
    now: dt.datetime | None = None,
) -> IssuedCertificate:
    """Sign a station CSR from SignCertificate.req and return the ChargePointCertificate.

    Checks: CSR self-signature, key strength (RSA >= 2048, EC >= 224), CN vs ``serial_number``
    and O vs ``cpo_name`` per ``policy``. The certificate is signed with SHA256withRSA
    (PKCS#1 v1.5) or ECDSA-SHA256, depending on the CA key, and carries the clientAuth EKU.
    Use ``.chain_pem`` of the result for CertificateSigned.req. Raises :class:`CsrRejected`.
    """
    policy = policy or StationCsrPolicy()
    csr = load_csr(csr_pem)
    if not csr.is_signature_valid:
        raise CsrRejected("CSR signature is invalid")
    public_key = csr.public_key()
    if problem := key_strength_problem(public_key):
        raise CsrRejected(problem)
    subject = _apply_name_check(
        csr.subject, NameOID.COMMON_NAME, "CN", serial_number, policy.cn_check
    )
    subject = _apply_name_check(subject, NameOID.ORGANIZATION_NAME, "O", cpo_name, policy.o_check)
    if not _first_attr(subject, NameOID.COMMON_NAME):
        raise CsrRejected("CSR subject has no CN")
    cert = issue_certificate(
        ca,
        subject,
        public_key,
        extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
        validity_days=policy.validity_days,
        now=now,
    )
    issued = IssuedCertificate(cert, ca.intermediates)
    if len(issued.chain_pem) > policy.max_chain_chars:
        raise CsrRejected(
            f"certificate chain has {len(issued.chain_pem)} characters, more than "
            f"{policy.max_chain_chars}"
        )
    return issued


# --------------------------------------------------------------------------------------------
# CertificateHashDataType (whitepaper ed.3 §6.1, identical to the OCSP CertID of RFC 6960)

_HASHES: dict[str, str] = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}


def _der_tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """Return (tag, content_start, content_end) of the DER element at ``offset``."""
    tag = data[offset]
    length = data[offset + 1]
    pos = offset + 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    return tag, pos, pos + length


def subject_public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING value (no tag, length or unused-bits octet)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tag, start, _ = _der_tlv(spki, 0)  # SubjectPublicKeyInfo ::= SEQUENCE {
    if tag != 0x30:
        raise ValueError("malformed SubjectPublicKeyInfo")
    _, _, alg_end = _der_tlv(spki, start)  #   algorithm AlgorithmIdentifier,
    tag, bits_start, bits_end = _der_tlv(spki, alg_end)  # subjectPublicKey BIT STRING }
    if tag != 0x03 or spki[bits_start] != 0:
        raise ValueError("malformed subjectPublicKey BIT STRING")
    return spki[bits_start + 1 : bits_end]


def certificate_hash_data(
    cert_pem: CertificateLike,
    issuer_pem: CertificateLike | None = None,
    hash_algorithm: HashAlgorithm = "SHA256",
) -> dict[str, str]:
    """Compute CertificateHashDataType for ``cert_pem``.

    ``issuer_pem`` is the issuer certificate (needed for issuerKeyHash); omit it only for a
    self-signed certificate. Hex strings are lowercase; ``serialNumber`` has no leading zeroes.
    When deleting a certificate, prefer the hash data the station reported itself (M04.FR.07)
    and compare with :func:`hash_data_equal`.
    """
    if hash_algorithm not in _HASHES:
        raise ValueError(f"hashAlgorithm must be one of {HASH_ALGORITHMS}")
    cert = load_certificate(cert_pem)
    if issuer_pem is None:
        if cert.issuer != cert.subject:
            raise ValueError("the issuer certificate is required for a certificate not self-issued")
        issuer = cert
    else:
        issuer = load_certificate(issuer_pem)
        if issuer.subject != cert.issuer:
            raise ValueError("issuer_pem is not the issuer of cert_pem (subject/issuer mismatch)")
    algo = _HASHES[hash_algorithm]
    return {
        "hashAlgorithm": hash_algorithm,
        "issuerNameHash": hashlib.new(algo, cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.new(algo, subject_public_key_bits(issuer)).hexdigest(),
        "serialNumber": format(cert.serial_number, "x"),
    }


def hash_data_equal(a: dict[str, str], b: dict[str, str]) -> bool:
    """Compare two CertificateHashData dicts, ignoring hex case and serial leading zeroes."""
    try:
        return (
            a["hashAlgorithm"].upper() == b["hashAlgorithm"].upper()
            and a["issuerNameHash"].lower() == b["issuerNameHash"].lower()
            and a["issuerKeyHash"].lower() == b["issuerKeyHash"].lower()
            and int(a["serialNumber"], 16) == int(b["serialNumber"], 16)
        )
    except (KeyError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# Inspection helpers


@dataclass(frozen=True)
class CertificateSummary:
    subject: str
    issuer: str
    serial: str  # lowercase hex, no leading zeroes
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str  # lowercase hex
    key: str  # e.g. "RSA-2048", "EC-secp256r1"
    is_ca: bool
    common_name: str | None = None
    san: tuple[str, ...] = field(default_factory=tuple)

    def days_left(self, now: dt.datetime | None = None) -> float:
        return (self.not_after - (now or _now())).total_seconds() / 86400


def summarize_certificate(cert: CertificateLike) -> CertificateSummary:
    c = load_certificate(cert)
    try:
        san_ext = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = tuple(str(v) for v in san_ext.get_values_for_type(x509.DNSName)) + tuple(
            str(v) for v in san_ext.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        san = ()
    return CertificateSummary(
        subject=c.subject.rfc4514_string(),
        issuer=c.issuer.rfc4514_string(),
        serial=format(c.serial_number, "x"),
        not_before=c.not_valid_before_utc,
        not_after=c.not_valid_after_utc,
        fingerprint_sha256=c.fingerprint(hashes.SHA256()).hex(),
        key=describe_key(c.public_key()),
        is_ca=_is_ca(c),
        common_name=_first_attr(c.subject, NameOID.COMMON_NAME),
        san=san,
    )


def list_expiring(
    certs: Iterable[CertificateLike], within_days: float, *, now: dt.datetime | None = None
) -> list[CertificateSummary]:
    """Certificates expiring within ``within_days`` (already expired ones included), soonest
    first."""
    limit = (now or _now()) + dt.timedelta(days=within_days)
    summaries = [summarize_certificate(c) for c in certs]
    return sorted((s for s in summaries if s.not_after <= limit), key=lambda s: s.not_after)


def verify_chain(
    cert: CertificateLike,
    trusted_roots: Sequence[CertificateLike],
    intermediates: Sequence[CertificateLike] = (),
    *,
    now: dt.datetime | None = None,
    max_depth: int = 8,
) -> str | None:
    """Minimal path check (signatures, validity periods, CA flags); returns a reason or None.

    Meant for sanity checks before sending certificates to stations (e.g. the firmware signing
    certificate, A00.FR.706), not as a full RFC 5280 validator - TLS handshakes use OpenSSL.
    """
    moment = now or _now()
    roots = [load_certificate(c) for c in trusted_roots]
    pool = [load_certificate(c) for c in intermediates]
    current = load_certificate(cert)
    for depth in range(max_depth + 1):
        if not current.not_valid_before_utc <= moment <= current.not_valid_after_utc:
            return f"certificate {current.subject.rfc4514_string()} is outside its validity period"
        if depth > 0 and not _is_ca(current):
            return f"issuer {current.subject.rfc4514_string()} is not a CA"
        for root in roots:
            if root == current or (root.subject == current.issuer and _signed_by(current, root)):
                if root != current and not root.not_valid_before_utc <= moment <= (
                    root.not_valid_after_utc
                ):
                    return "root certificate is outside its validity period"
                return None
        parent = next(
            (p for p in pool if p.subject == current.issuer and _signed_by(current, p)), None
        )
        if parent is None:
            return f"no trusted issuer found for {current.subject.rfc4514_string()}"
        current = parent
    return "certificate chain too long"


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --------------------------------------------------------------------------------------------
# CA directory layout


class CaDirectory:
    """PEM files in one directory: ``<name>.pem`` (certificate, then its chain) and
    ``<name>.key`` (private key, mode 0600).

    Conventional names are the class constants, e.g. ``root-ca.pem`` / ``root-ca.key``,
    ``server.pem`` (leaf + intermediates, ready for ``SSLContext.load_cert_chain``).
    """

    ROOT_CA = "root-ca"
    SUB_CA = "sub-ca"
    SERVER_RSA = "server"
    SERVER_ECDSA = "server-ecdsa"
    FIRMWARE_SIGNING = "firmware-signing"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def cert_path(self, name: str) -> Path:
        return self.path / f"{name}.pem"

    def key_path(self, name: str) -> Path:
        return self.path / f"{name}.key"

    def exists(self, name: str) -> bool:
        return self.cert_path(name).is_file()

    def save(
        self,
        name: str,
        certificate: x509.Certificate,
        *,
        chain: Sequence[x509.Certificate] = (),
        private_key: PrivateKey | None = None,
        key_password: bytes | str | None = None,
    ) -> Path:
        """Write ``<name>.pem`` (certificate + chain) and, if given, ``<name>.key``."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if private_key is not None:
            _atomic_write(self.key_path(name), private_key_to_pem(private_key, key_password), 0o600)
        cert_file = self.cert_path(name)
        _atomic_write(cert_file, certificates_to_pem((certificate, *chain)), 0o644)
        return cert_file

    def save_ca(
        self, name: str, ca: CertificateAuthority, key_password: bytes | str | None = None
    ) -> Path:
        return self.save(
            name,
            ca.certificate,
            chain=ca.parents,
            private_key=ca.private_key,
            key_password=key_password,
        )

    def save_issued(
        self, name: str, issued: IssuedCertificate, key_password: bytes | str | None = None
    ) -> Path:
        return self.save(
            name,
            issued.certificate,
            chain=issued.intermediates,
            private_key=issued.private_key,
            key_password=key_password,
        )

    def load_certificates(self, name: str) -> list[x509.Certificate]:
        return load_certificates(self.cert_path(name).read_bytes())

    def load_private_key(self, name: str, password: bytes | str | None = None) -> PrivateKey:
        return load_private_key(self.key_path(name).read_bytes(), password)

    def load_ca(
        self, name: str = ROOT_CA, password: bytes | str | None = None
    ) -> CertificateAuthority:
        return import_ca(
            self.cert_path(name).read_bytes(), self.key_path(name).read_bytes(), password=password
        )

    def load_issued(self, name: str, password: bytes | str | None = None) -> IssuedCertificate:
        certs = self.load_certificates(name)
        key = self.load_private_key(name, password) if self.key_path(name).is_file() else None
        return IssuedCertificate(certs[0], tuple(certs[1:]), key)

    def all_certificates(self) -> list[x509.Certificate]:
        """Every certificate in the directory (for :func:`list_expiring`)."""
        out: list[x509.Certificate] = []
        for file in sorted(self.path.glob("*.pem")):
            out.extend(load_certificates(file.read_bytes()))
        return out


def _atomic_write(path: Path, text: str, mode: int) -> None:
    # Write to a temp file created with the final permissions, then rename: never a
    # world-readable key, never a half-written PEM after a crash.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "HASH_ALGORITHMS",
    "MAX_CERTIFICATE_CHAIN_CHARS",
    "CaDirectory",
    "CertificateAuthority",
    "CertificateSummary",
    "CsrRejected",
    "HashAlgorithm",
    "IssuedCertificate",
    "StationCsrPolicy",
    "build_name",
    "certificate_hash_data",
    "certificate_to_pem",
    "certificates_to_pem",
    "create_root_ca",
    "create_sub_ca",
    "hash_data_equal",
    "import_ca",
    "is_self_signed",
    "issue_certificate",
    "issue_server_certificate",
    "list_expiring",
    "load_certificate",
    "load_certificates",
    "load_csr",
    "normalize_pem",
    "sign_station_csr",
    "subject_public_key_bits",
    "summarize_certificate",
    "verify_chain",
]
