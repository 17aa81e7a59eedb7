"""Tests for watthub.security.pki: real certificates, checked with independent computations."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from watthub.security import pki
from watthub.security.keys import generate_private_key, public_keys_equal

SERIAL = "WH-SN-000123"
CPO = "WattHub CPO"


@pytest.fixture(scope="module")
def rsa_root() -> pki.CertificateAuthority:
    return pki.create_root_ca("Test RSA Root", organization="WattHub", key_type="rsa-4096")


@pytest.fixture(scope="module")
def ec_root() -> pki.CertificateAuthority:
    return pki.create_root_ca("Test EC Root", key_type="ec-p384")


@pytest.fixture(scope="module")
def ec_sub(rsa_root: pki.CertificateAuthority) -> pki.CertificateAuthority:
    return pki.create_sub_ca(rsa_root, "Test EC Sub CA", key_type="ec-p256")


def make_csr(key: object, cn: str | None = SERIAL, org: str | None = CPO) -> str:
    attrs = []
    if org is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attrs))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def cn_of(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


# ----------------------------------------------------------------------------- CAs


def test_root_ca_properties(rsa_root: pki.CertificateAuthority) -> None:
    cert = rsa_root.certificate
    assert rsa_root.is_root
    assert rsa_root.intermediates == ()
    assert rsa_root.root == cert
    assert isinstance(rsa_root.private_key, rsa.RSAPrivateKey)
    assert rsa_root.private_key.key_size == 4096
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert cn_of(cert) == "Test RSA Root"
    assert "-----BEGIN CERTIFICATE-----\n" in rsa_root.root_pem


def test_ec_root_uses_ecdsa_sha256(ec_root: pki.CertificateAuthority) -> None:
    assert isinstance(ec_root.private_key, ec.EllipticCurvePrivateKey)
    assert ec_root.private_key.curve.name == "secp384r1"
    assert ec_root.certificate.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256


def test_sub_ca_chain(rsa_root: pki.CertificateAuthority, ec_sub: pki.CertificateAuthority) -> None:
    assert not ec_sub.is_root
    assert ec_sub.root == rsa_root.certificate
    assert ec_sub.intermediates == (ec_sub.certificate,)
    ec_sub.certificate.verify_directly_issued_by(rsa_root.certificate)
    bc = ec_sub.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    assert ec_sub.certificate.not_valid_after_utc <= rsa_root.certificate.not_valid_after_utc
    aki = ec_sub.certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    ski = rsa_root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.value.key_identifier == ski.value.digest


def test_import_ca_roundtrip_with_password(ec_sub: pki.CertificateAuthority) -> None:
    key_pem = ec_sub.key_pem("s3cret")
    assert "ENCRYPTED PRIVATE KEY" in key_pem
    chain = pki.certificates_to_pem((ec_sub.certificate, *ec_sub.parents))
    imported = pki.import_ca(chain, key_pem, password="s3cret")
    assert imported.certificate == ec_sub.certificate
    assert imported.parents == ec_sub.parents
    assert public_keys_equal(imported.private_key.public_key(), ec_sub.certificate.public_key())
    with pytest.raises((ValueError, TypeError)):
        pki.import_ca(chain, key_pem, password="wrong")


def test_import_ca_rejects_mismatched_key_and_non_ca(
    rsa_root: pki.CertificateAuthority, ec_sub: pki.CertificateAuthority
) -> None:
    with pytest.raises(ValueError, match="does not belong"):
        pki.import_ca(rsa_root.cert_pem, ec_sub.key_pem())
    leaf = pki.issue_server_certificate(ec_sub, "csms.example.com", key_type="ec-p256")
    with pytest.raises(ValueError, match="not a CA"):
        pki.import_ca(leaf.cert_pem, leaf.key_pem())


# ----------------------------------------------------------------------------- server cert


@pytest.mark.parametrize("key_type", ["rsa-2048", "ec-p256"])
def test_server_certificate(ec_sub: pki.CertificateAuthority, key_type: str) -> None:
    issued = pki.issue_server_certificate(
        ec_sub,
        "csms.example.com",
        extra_names=["localhost", "127.0.0.1"],
        key_type=key_type,  # type: ignore[arg-type]
    )
    cert = issued.certificate
    assert cn_of(cert) == "csms.example.com"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["csms.example.com", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ec_sub.certificate)
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    key = issued.private_key
    if key_type == "rsa-2048":
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    chain = pki.load_certificates(issued.chain_pem)
    assert chain == [cert, ec_sub.certificate]
    assert "\r" not in issued.chain_pem
    assert pki.verify_chain(cert, [ec_sub.root], [ec_sub.certificate]) is None


def test_server_certificate_rejects_url() -> None:
    ca = pki.create_root_ca(key_type="ec-p256")
    with pytest.raises(ValueError, match="FQDN"):
        pki.issue_server_certificate(ca, "wss://csms.example.com/ocpp")


# ----------------------------------------------------------------------------- CSR signing


@pytest.mark.parametrize(
    ("csr_key_type", "ca_fixture", "expected_sig"),
    [
        ("rsa-2048", "rsa_root", SignatureAlgorithmOID.RSA_WITH_SHA256),
        ("ec-p256", "rsa_root", SignatureAlgorithmOID.RSA_WITH_SHA256),
        ("rsa-2048", "ec_root", SignatureAlgorithmOID.ECDSA_WITH_SHA256),
        ("ec-p256", "ec_root", SignatureAlgorithmOID.ECDSA_WITH_SHA256),
    ],
)
def test_sign_station_csr(
    request: pytest.FixtureRequest,
    csr_key_type: str,
    ca_fixture: str,
    expected_sig: x509.ObjectIdentifier,
) -> None:
    ca: pki.CertificateAuthority = request.getfixturevalue(ca_fixture)
    key = generate_private_key(csr_key_type)  # type: ignore[arg-type]
    issued = pki.sign_station_csr(ca, make_csr(key), serial_number=SERIAL, cpo_name=CPO)
    cert = issued.certificate
    assert public_keys_equal(cert.public_key(), key.public_key())
    assert cn_of(cert) == SERIAL
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert org == CPO
    assert cert.signature_algorithm_oid == expected_sig
    if expected_sig == SignatureAlgorithmOID.RSA_WITH_SHA256:
        # SHA256withRSA = PKCS#1 v1.5, not PSS (OCTT quirk); verify with that padding explicitly.
        ca_pub = ca.certificate.public_key()
        assert isinstance(ca_pub, rsa.RSAPublicKey)
        ca_pub.verify(
            cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256()
        )
    cert.verify_directly_issued_by(ca.certificate)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert issued.intermediates == ()  # issued by a root: the chain is just the leaf
    assert issued.chain_pem == issued.cert_pem
    assert "\r" not in issued.chain_pem
    assert pki.verify_chain(cert, [ca.certificate]) is None


def test_sign_station_csr_with_sub_ca_returns_chain(
    rsa_root: pki.CertificateAuthority, ec_sub: pki.CertificateAuthority
) -> None:
    key = generate_private_key("ec-p256")
    csr = make_csr(key).replace("\n", "\r\n")  # stations may send CRLF PEM
    issued = pki.sign_station_csr(ec_sub, csr, serial_number=SERIAL)
    chain = pki.load_certificates(issued.chain_pem)
    assert chain == [issued.certificate, ec_sub.certificate]
    assert rsa_root.certificate not in chain
    assert "\r" not in issued.chain_pem and issued.chain_pem.count("BEGIN CERTIFICATE") == 2
    assert pki.verify_chain(chain[0], [rsa_root.certificate], chain[1:]) is None
    assert pki.verify_chain(chain[0], [rsa_root.certificate]) is not None  # sub-CA missing


def test_sign_station_csr_accepts_ec_224(ec_root: pki.CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP224R1())
    issued = pki.sign_station_csr(ec_root, make_csr(key), serial_number=SERIAL)
    assert public_keys_equal(issued.certificate.public_key(), key.public_key())


def test_sign_station_csr_rejects_rsa_1024(rsa_root: pki.CertificateAuthority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(pki.CsrRejected) as exc:
        pki.sign_station_csr(rsa_root, make_csr(key), serial_number=SERIAL)
    assert "1024" in exc.value.reason and "2048" in exc.value.reason


def test_sign_station_csr_rejects_ec_192(ec_root: pki.CertificateAuthority) -> None:
    try:
        key = ec.generate_private_key(ec.SECP192R1())
    except Exception:  # pragma: no cover - curve disabled in this OpenSSL build
        pytest.skip("P-192 not available")
    with pytest.raises(pki.CsrRejected, match="224"):
        pki.sign_station_csr(ec_root, make_csr(key), serial_number=SERIAL)


def test_sign_station_csr_wrong_cn(ec_root: pki.CertificateAuthority) -> None:
    key = generate_private_key("ec-p256")
    csr = make_csr(key, cn="SOMEONE-ELSE")
    with pytest.raises(pki.CsrRejected, match="does not match") as exc:
        pki.sign_station_csr(ec_root, csr, serial_number=SERIAL)
    assert "SOMEONE-ELSE" in exc.value.reason
    # Override (OCTT mode): the certificate gets CN = configured serial number anyway.
    policy = pki.StationCsrPolicy(cn_check="override")
    issued = pki.sign_station_csr(ec_root, csr, serial_number=SERIAL, policy=policy)
    assert cn_of(issued.certificate) == SERIAL
    assert len(issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)) == 1
    # Ignore: keeps the CSR CN.
    policy = pki.StationCsrPolicy(cn_check="ignore")
    issued = pki.sign_station_csr(ec_root, csr, serial_number=None, policy=policy)
    assert cn_of(issued.certificate) == "SOMEONE-ELSE"
    # Missing CN in the CSR, overridden from the serial number.
    issued = pki.sign_station_csr(
        ec_root,
        make_csr(key, cn=None),
        serial_number=SERIAL,
        policy=pki.StationCsrPolicy(cn_check="override"),
    )
    assert cn_of(issued.certificate) == SERIAL


def test_sign_station_csr_unknown_serial_rejected_in_strict_mode(
    ec_root: pki.CertificateAuthority,
) -> None:
    with pytest.raises(pki.CsrRejected, match="not configured"):
        pki.sign_station_csr(ec_root, make_csr(generate_private_key()), serial_number=None)


def test_sign_station_csr_cpo_name_check(ec_root: pki.CertificateAuthority) -> None:
    csr = make_csr(generate_private_key(), org="Other CPO")
    # Default: O is not checked (the OCTT cannot provide CpoName).
    issued = pki.sign_station_csr(ec_root, csr, serial_number=SERIAL, cpo_name=CPO)
    assert issued.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[
        0
    ].value == ("Other CPO")
    strict = pki.StationCsrPolicy(o_check="reject")
    with pytest.raises(pki.CsrRejected, match="CSR O"):
        pki.sign_station_csr(ec_root, csr, serial_number=SERIAL, cpo_name=CPO, policy=strict)
    override = pki.StationCsrPolicy(o_check="override")
    issued = pki.sign_station_csr(ec_root, csr, serial_number=SERIAL, cpo_name=CPO, policy=override)
    orgs = issued.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in orgs] == [CPO]


def test_sign_station_csr_rejects_bad_signature_and_garbage(
    ec_root: pki.CertificateAuthority,
) -> None:
    key = generate_private_key("ec-p256")
    csr = x509.load_pem_x509_csr(make_csr(key).encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # flip a bit inside the signature
    import base64

    b64 = base64.encodebytes(bytes(der)).decode()
    tampered = f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(pki.CsrRejected, match="signature"):
        pki.sign_station_csr(ec_root, tampered, serial_number=SERIAL)
    with pytest.raises(pki.CsrRejected, match="invalid CSR"):
        pki.sign_station_csr(ec_root, "not a csr", serial_number=SERIAL)


def test_sign_station_csr_validity(ec_root: pki.CertificateAuthority) -> None:
    now = dt.datetime.now(dt.UTC)
    issued = pki.sign_station_csr(
        ec_root,
        make_csr(generate_private_key()),
        serial_number=SERIAL,
        policy=pki.StationCsrPolicy(validity_days=30),
        now=now,
    )
    cert = issued.certificate
    assert cert.not_valid_before_utc <= now
    assert abs(cert.not_valid_after_utc - (now + dt.timedelta(days=30))) < dt.timedelta(seconds=2)
    # Clamped to the issuer's lifetime.
    issued = pki.sign_station_csr(
        ec_root,
        make_csr(generate_private_key()),
        serial_number=SERIAL,
        policy=pki.StationCsrPolicy(validity_days=365 * 100),
    )
    assert issued.certificate.not_valid_after_utc == ec_root.certificate.not_valid_after_utc


def test_sign_station_csr_chain_size_limit(ec_sub: pki.CertificateAuthority) -> None:
    with pytest.raises(pki.CsrRejected, match="characters"):
        pki.sign_station_csr(
            ec_sub,
            make_csr(generate_private_key()),
            serial_number=SERIAL,
            policy=pki.StationCsrPolicy(max_chain_chars=500),
        )


# ----------------------------------------------------------------------------- hash data

_HASH_CLASSES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
@pytest.mark.parametrize("issuer_fixture", ["rsa_root", "ec_root"])
def test_certificate_hash_data_matches_ocsp_certid(
    request: pytest.FixtureRequest, algorithm: str, issuer_fixture: str
) -> None:
    ca: pki.CertificateAuthority = request.getfixturevalue(issuer_fixture)
    leaf = pki.sign_station_csr(ca, make_csr(generate_private_key()), serial_number=SERIAL)
    data = pki.certificate_hash_data(leaf.cert_pem, ca.cert_pem, algorithm)  # type: ignore[arg-type]
    # Independent computation 1: the OCSP CertID built by cryptography/OpenSSL (RFC 6960).
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf.certificate, ca.certificate, _HASH_CLASSES[algorithm]())
        .build()
    )
    assert data == {
        "hashAlgorithm": algorithm,
        "issuerNameHash": req.issuer_name_hash.hex(),
        "issuerKeyHash": req.issuer_key_hash.hex(),
        "serialNumber": format(req.serial_number, "x"),
    }
    # Independent computation 2: the public key bits from the key itself (PKCS#1 / X9.62).
    pub = ca.certificate.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        bits = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        bits = pub.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    assert data["issuerKeyHash"] == hashlib.new(algorithm.lower(), bits).hexdigest()
    assert (
        data["issuerNameHash"]
        == hashlib.new(algorithm.lower(), ca.certificate.subject.public_bytes()).hexdigest()
    )
    assert data["issuerNameHash"] == data["issuerNameHash"].lower()
    assert len(data["issuerKeyHash"]) == {"SHA256": 64, "SHA384": 96, "SHA512": 128}[algorithm]


def _cert_with_serial(ca: pki.CertificateAuthority, serial: int) -> x509.Certificate:
    key = generate_private_key("ec-p256")
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(pki.build_name("serial-test"))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    return ca.sign(builder)


def test_hash_data_serial_without_leading_zeroes(ec_root: pki.CertificateAuthority) -> None:
    assert pki.certificate_hash_data(_cert_with_serial(ec_root, 4095), ec_root.certificate)[
        "serialNumber"
    ] == ("fff")
    # 0x00ab... : DER adds no leading 00 here, but a high-bit serial gets one; neither shows up.
    high = 0x80_00_00_00_00_00_00_01
    cert = _cert_with_serial(ec_root, high)
    data = pki.certificate_hash_data(cert, ec_root.certificate)
    assert data["serialNumber"] == "8000000000000001"
    assert pki.certificate_hash_data(_cert_with_serial(ec_root, 0x0A), ec_root.certificate)[
        "serialNumber"
    ] == ("a")


def test_hash_data_self_signed_root(rsa_root: pki.CertificateAuthority) -> None:
    assert pki.certificate_hash_data(rsa_root.cert_pem) == pki.certificate_hash_data(
        rsa_root.cert_pem, rsa_root.cert_pem
    )


def test_hash_data_requires_right_issuer(
    rsa_root: pki.CertificateAuthority, ec_root: pki.CertificateAuthority
) -> None:
    leaf = pki.sign_station_csr(ec_root, make_csr(generate_private_key()), serial_number=SERIAL)
    with pytest.raises(ValueError, match="issuer certificate is required"):
        pki.certificate_hash_data(leaf.cert_pem)
    with pytest.raises(ValueError, match="not the issuer"):
        pki.certificate_hash_data(leaf.cert_pem, rsa_root.cert_pem)
    with pytest.raises(ValueError, match="hashAlgorithm"):
        pki.certificate_hash_data(rsa_root.cert_pem, hash_algorithm="MD5")  # type: ignore[arg-type]


def test_hash_data_equal_normalises(rsa_root: pki.CertificateAuthority) -> None:
    data = pki.certificate_hash_data(rsa_root.cert_pem, hash_algorithm="SHA384")
    reported = {
        "hashAlgorithm": "SHA384",
        "issuerNameHash": data["issuerNameHash"].upper(),
        "issuerKeyHash": data["issuerKeyHash"].upper(),
        "serialNumber": "00" + data["serialNumber"].upper(),
    }
    assert pki.hash_data_equal(data, reported)
    assert not pki.hash_data_equal(data, {**reported, "hashAlgorithm": "SHA256"})
    assert not pki.hash_data_equal(data, {**reported, "serialNumber": "1"})
    assert not pki.hash_data_equal(data, {"hashAlgorithm": "SHA384"})


# ----------------------------------------------------------------------------- helpers


def test_summary_and_list_expiring(ec_root: pki.CertificateAuthority) -> None:
    now = dt.datetime.now(dt.UTC)
    short = pki.sign_station_csr(
        ec_root,
        make_csr(generate_private_key()),
        serial_number=SERIAL,
        policy=pki.StationCsrPolicy(validity_days=10),
    ).certificate
    mid = pki.sign_station_csr(
        ec_root,
        make_csr(generate_private_key()),
        serial_number=SERIAL,
        policy=pki.StationCsrPolicy(validity_days=20),
    ).certificate
    long = ec_root.certificate
    summary = pki.summarize_certificate(pki.certificate_to_pem(short))
    assert summary.subject == f"CN={SERIAL},O={CPO}"
    assert summary.issuer == "CN=Test EC Root"
    assert summary.serial == format(short.serial_number, "x")
    assert summary.fingerprint_sha256 == short.fingerprint(hashes.SHA256()).hex()
    assert summary.key == "EC-secp256r1" and not summary.is_ca
    assert summary.common_name == SERIAL
    assert 9.9 < summary.days_left(now) <= 10.01
    expiring = pki.list_expiring([long, mid, short], within_days=15, now=now)
    assert [s.serial for s in expiring] == [format(short.serial_number, "x")]
    expiring = pki.list_expiring([long, mid, short], within_days=30, now=now)
    assert [s.serial for s in expiring] == [
        format(short.serial_number, "x"),
        format(mid.serial_number, "x"),
    ]
    later = now + dt.timedelta(days=12)  # `short` already expired then: still reported
    assert len(pki.list_expiring([short], within_days=0, now=later)) == 1


def test_ca_directory_roundtrip(
    tmp_path: object, rsa_root: pki.CertificateAuthority, ec_sub: pki.CertificateAuthority
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    cadir = pki.CaDirectory(tmp_path / "ca")
    cadir.save_ca(cadir.ROOT_CA, rsa_root, key_password="pw")
    cadir.save_ca(cadir.SUB_CA, ec_sub)
    server = pki.issue_server_certificate(ec_sub, "csms.example.com")
    cadir.save_issued(cadir.SERVER_RSA, server)
    assert (tmp_path / "ca" / "root-ca.pem").is_file()
    assert (tmp_path / "ca" / "root-ca.key").is_file()
    assert stat.S_IMODE((tmp_path / "ca" / "root-ca.key").stat().st_mode) == 0o600
    assert b"ENCRYPTED" in (tmp_path / "ca" / "root-ca.key").read_bytes()
    assert b"\r" not in (tmp_path / "ca" / "server.pem").read_bytes()
    root = cadir.load_ca(cadir.ROOT_CA, password="pw")
    assert root.certificate == rsa_root.certificate and root.is_root
    sub = cadir.load_ca(cadir.SUB_CA)
    assert sub.parents == (rsa_root.certificate,) and sub.root == rsa_root.certificate
    loaded = cadir.load_issued(cadir.SERVER_RSA)
    assert loaded.certificate == server.certificate
    assert loaded.intermediates == (ec_sub.certificate,)
    assert loaded.private_key is not None
    assert public_keys_equal(loaded.private_key.public_key(), server.certificate.public_key())
    assert cadir.exists(cadir.SERVER_RSA) and not cadir.exists(cadir.SERVER_ECDSA)
    assert len(cadir.all_certificates()) == 1 + 2 + 2


def test_normalize_pem(rsa_root: pki.CertificateAuthority) -> None:
    import urllib.parse

    pem = rsa_root.cert_pem
    assert pki.normalize_pem(pem.replace("\n", "\r\n")) == pem
    assert pki.normalize_pem(urllib.parse.quote(pem)) == pem
    assert pki.load_certificate(urllib.parse.quote(pem)) == rsa_root.certificate
