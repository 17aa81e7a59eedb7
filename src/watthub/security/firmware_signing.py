"""Signed firmware update (whitepaper L01, SignedUpdateFirmware.req).

The CSMS sends ``firmware.signingCertificate`` (PEM, L01.FR.11) and ``firmware.signature``
(base64). The station verifies the certificate against its ManufacturerRootCertificate and the
signature over the SHA-256 of the firmware file. Signatures are what ``openssl dgst -sha256
-sign key.pem`` produces: RSA PKCS#1 v1.5 (by default) or DER-encoded ECDSA.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Literal, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID

from .keys import KeyType, PrivateKey, generate_private_key, key_strength_problem
from .pki import (
    CertificateAuthority,
    CertificateLike,
    IssuedCertificate,
    build_name,
    issue_certificate,
    load_certificate,
)

FirmwareSource: TypeAlias = bytes | str | os.PathLike[str] | BinaryIO
RsaPadding: TypeAlias = Literal["pkcs1v15", "pss"]
_CHUNK = 1024 * 1024


def create_firmware_signing_certificate(
    ca: CertificateAuthority,
    common_name: str = "WattHub Firmware Signing",
    *,
    organization: str | None = None,
    key_type: KeyType = "ec-p256",
    validity_days: int = 3 * 365,
    now: dt.datetime | None = None,
) -> IssuedCertificate:
    """Issue a firmware-signing key + certificate (codeSigning EKU) from ``ca``.

    The station checks it against its ManufacturerRootCertificate, so ``ca`` must be (or chain
    to) the root installed with InstallCertificate(ManufacturerRootCertificate).
    """
    key = generate_private_key(key_type)
    if problem := key_strength_problem(key):
        raise ValueError(problem)
    cert = issue_certificate(
        ca,
        build_name(common_name, organization),
        key.public_key(),
        extended_key_usage=[ExtendedKeyUsageOID.CODE_SIGNING],
        validity_days=validity_days,
        now=now,
    )
    return IssuedCertificate(cert, ca.intermediates, key)


def firmware_digest(firmware: FirmwareSource) -> bytes:
    """SHA-256 of the firmware: bytes, a path, or a binary file object (streamed)."""
    h = hashlib.sha256()
    if isinstance(firmware, bytes):
        h.update(firmware)
    elif isinstance(firmware, str | os.PathLike):
        with Path(firmware).open("rb") as fh:
            _update(h, fh)
    else:
        _update(h, firmware)
    return h.digest()


def _update(h: hashlib._Hash, fh: BinaryIO) -> None:
    chunks: Iterable[bytes] = iter(lambda: fh.read(_CHUNK), b"")
    for chunk in chunks:
        h.update(chunk)


def _rsa_padding(kind: RsaPadding) -> padding.AsymmetricPadding:
    if kind == "pss":
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return padding.PKCS1v15()


def sign_firmware(
    firmware: FirmwareSource, private_key: PrivateKey, *, rsa_padding: RsaPadding = "pkcs1v15"
) -> str:
    """Return the base64 signature for SignedUpdateFirmware.req ``firmware.signature``.

    The file is hashed in chunks, then the digest is signed (Prehashed), so large images are
    never held in memory.
    """
    digest = firmware_digest(firmware)
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(digest, _rsa_padding(rsa_padding), prehashed)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        signature = private_key.sign(digest, ec.ECDSA(prehashed))
    else:
        raise TypeError(f"unsupported signing key {type(private_key).__name__}")
    return base64.b64encode(signature).decode("ascii")


def verify_firmware_signature(
    firmware: FirmwareSource,
    signature_b64: str,
    signing_certificate: CertificateLike,
    *,
    rsa_padding: RsaPadding = "pkcs1v15",
) -> bool:
    """Check ``signature_b64`` over ``firmware`` with the signing certificate's public key.

    Run this before sending SignedUpdateFirmware.req (A00.FR.706) to catch mismatched
    signature/certificate pairs. Certificate path validation: ``pki.verify_chain``.
    """
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    public_key = load_certificate(signing_certificate).public_key()
    digest = firmware_digest(firmware)
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, _rsa_padding(rsa_padding), prehashed)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def signed_update_firmware_payload(
    *,
    request_id: int,
    location: str,
    retrieve_date_time: dt.datetime,
    signing_certificate_pem: str,
    signature_b64: str,
    install_date_time: dt.datetime | None = None,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> dict[str, object]:
    """Assemble the SignedUpdateFirmware.req payload (field limits checked, PEM with ``\\n``)."""
    if len(location) > 512:
        raise ValueError("firmware.location is limited to 512 characters")
    pem = signing_certificate_pem.replace("\r\n", "\n")
    if len(pem) > 5500:
        raise ValueError("firmware.signingCertificate is limited to 5500 characters")
    if len(signature_b64) > 800:
        raise ValueError("firmware.signature is limited to 800 characters")

    def ts(value: dt.datetime) -> str:
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")

    firmware: dict[str, object] = {
        "location": location,
        "retrieveDateTime": ts(retrieve_date_time),
        "signingCertificate": pem,
        "signature": signature_b64,
    }
    if install_date_time is not None:
        firmware["installDateTime"] = ts(install_date_time)
    payload: dict[str, object] = {"requestId": request_id, "firmware": firmware}
    if retries is not None:
        payload["retries"] = retries
    if retry_interval is not None:
        payload["retryInterval"] = retry_interval
    return payload


__all__ = [
    "create_firmware_signing_certificate",
    "firmware_digest",
    "sign_firmware",
    "signed_update_firmware_payload",
    "verify_firmware_signature",
]
