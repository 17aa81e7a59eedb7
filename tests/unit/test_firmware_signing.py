"""Tests for watthub.security.firmware_signing (signatures cross-checked with the openssl CLI)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from watthub.security import firmware_signing as fw
from watthub.security import pki

FIRMWARE = bytes(range(256)) * 4096 + b"WattHub firmware v1.2.3"  # ~1 MiB, spans chunks


@pytest.fixture(scope="module")
def ca() -> pki.CertificateAuthority:
    return pki.create_root_ca("Manufacturer Root", key_type="ec-p384")


@pytest.fixture(scope="module", params=["ec-p256", "rsa-2048"])
def signer(request: pytest.FixtureRequest, ca: pki.CertificateAuthority) -> pki.IssuedCertificate:
    return fw.create_firmware_signing_certificate(ca, key_type=request.param, organization="WH")


def test_signing_certificate(ca: pki.CertificateAuthority, signer: pki.IssuedCertificate) -> None:
    cert = signer.certificate
    cert.verify_directly_issued_by(ca.certificate)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "WattHub Firmware Signing"
    assert pki.verify_chain(cert, [ca.certificate]) is None
    other = pki.create_root_ca("Other", key_type="ec-p256")
    assert pki.verify_chain(cert, [other.certificate]) is not None


def test_sign_and_verify(signer: pki.IssuedCertificate, tmp_path: Path) -> None:
    assert signer.private_key is not None
    sig = fw.sign_firmware(FIRMWARE, signer.private_key)
    assert base64.b64decode(sig, validate=True)
    assert len(sig) <= 800  # SignedUpdateFirmware.req firmware.signature maxLength
    assert fw.verify_firmware_signature(FIRMWARE, sig, signer.cert_pem)
    # Path and file-object inputs hash the same content.
    path = tmp_path / "fw.bin"
    path.write_bytes(FIRMWARE)
    assert fw.verify_firmware_signature(path, sig, signer.certificate)
    assert fw.verify_firmware_signature(io.BytesIO(FIRMWARE), sig, signer.cert_pem)
    assert fw.verify_firmware_signature(
        path, fw.sign_firmware(str(path), signer.private_key), signer.cert_pem
    )


def test_tamper_detection(signer: pki.IssuedCertificate, ca: pki.CertificateAuthority) -> None:
    assert signer.private_key is not None
    sig = fw.sign_firmware(FIRMWARE, signer.private_key)
    tampered = bytearray(FIRMWARE)
    tampered[1000] ^= 0x01
    assert not fw.verify_firmware_signature(bytes(tampered), sig, signer.cert_pem)
    assert not fw.verify_firmware_signature(FIRMWARE + b"\0", sig, signer.cert_pem)
    raw = bytearray(base64.b64decode(sig))
    raw[len(raw) // 2] ^= 0x40
    assert not fw.verify_firmware_signature(
        FIRMWARE, base64.b64encode(raw).decode(), signer.cert_pem
    )
    assert not fw.verify_firmware_signature(FIRMWARE, "not base64!", signer.cert_pem)
    # A different signing certificate does not verify the signature.
    other = fw.create_firmware_signing_certificate(ca, key_type="ec-p256")
    assert not fw.verify_firmware_signature(FIRMWARE, sig, other.cert_pem)


def test_rsa_pss_option(ca: pki.CertificateAuthority) -> None:
    signer = fw.create_firmware_signing_certificate(ca, key_type="rsa-2048")
    assert isinstance(signer.private_key, rsa.RSAPrivateKey)
    sig = fw.sign_firmware(FIRMWARE, signer.private_key, rsa_padding="pss")
    assert fw.verify_firmware_signature(FIRMWARE, sig, signer.cert_pem, rsa_padding="pss")
    assert not fw.verify_firmware_signature(FIRMWARE, sig, signer.cert_pem)  # PKCS#1 v1.5


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_signature_verifies_with_openssl_cli(signer: pki.IssuedCertificate, tmp_path: Path) -> None:
    # Independent check: what a station doing `openssl dgst -sha256 -verify` would accept.
    assert signer.private_key is not None
    (tmp_path / "fw.bin").write_bytes(FIRMWARE)
    (tmp_path / "cert.pem").write_text(signer.cert_pem)
    sig = fw.sign_firmware(FIRMWARE, signer.private_key)
    (tmp_path / "fw.sig").write_bytes(base64.b64decode(sig))
    pub = subprocess.run(
        ["openssl", "x509", "-in", "cert.pem", "-pubkey", "-noout"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    verify = ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "fw.sig", "fw.bin"]
    ok = subprocess.run(verify, cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    (tmp_path / "fw.bin").write_bytes(FIRMWARE + b"!")
    bad = subprocess.run(verify, cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0
    # And the other way round: an openssl-made signature verifies with our code.
    (tmp_path / "fw.bin").write_bytes(FIRMWARE)
    (tmp_path / "key.pem").write_text(signer.key_pem())
    subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", "key.pem", "-out", "cli.sig", "fw.bin"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    cli_sig = base64.b64encode((tmp_path / "cli.sig").read_bytes()).decode()
    assert fw.verify_firmware_signature(FIRMWARE, cli_sig, signer.cert_pem)


def test_signed_update_firmware_payload(signer: pki.IssuedCertificate) -> None:
    assert signer.private_key is not None
    sig = fw.sign_firmware(FIRMWARE, signer.private_key)
    retrieve = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    payload = fw.signed_update_firmware_payload(
        request_id=7,
        location="https://fw.example.com/fw.bin",
        retrieve_date_time=retrieve,
        signing_certificate_pem=signer.cert_pem.replace("\n", "\r\n"),
        signature_b64=sig,
        retries=3,
    )
    firmware = payload["firmware"]
    assert isinstance(firmware, dict)
    assert payload["requestId"] == 7 and payload["retries"] == 3
    assert "retryInterval" not in payload and "installDateTime" not in firmware
    assert firmware["retrieveDateTime"] == "2026-01-02T03:04:05Z"
    assert firmware["signature"] == sig
    assert firmware["signingCertificate"] == signer.cert_pem  # \n only
    with pytest.raises(ValueError, match="512"):
        fw.signed_update_firmware_payload(
            request_id=1,
            location="x" * 513,
            retrieve_date_time=retrieve,
            signing_certificate_pem=signer.cert_pem,
            signature_b64=sig,
        )
    with pytest.raises(ValueError, match="timezone"):
        fw.signed_update_firmware_payload(
            request_id=1,
            location="ftp://x",
            retrieve_date_time=dt.datetime(2026, 1, 1),
            signing_certificate_pem=signer.cert_pem,
            signature_b64=sig,
        )


def test_ec_signature_is_der(ca: pki.CertificateAuthority) -> None:
    signer = fw.create_firmware_signing_certificate(ca, key_type="ec-p256")
    assert isinstance(signer.private_key, ec.EllipticCurvePrivateKey)
    raw = base64.b64decode(fw.sign_firmware(FIRMWARE, signer.private_key))
    assert raw[0] == 0x30  # DER SEQUENCE { r, s }, as produced by `openssl dgst -sign`
    assert 8 <= len(raw) <= 72
