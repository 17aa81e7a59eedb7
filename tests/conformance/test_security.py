"""OCPP 1.6 Security Whitepaper (edition 3): the OCTT CSMS cases TC_073-TC_088 over real
WebSockets, with real TLS and mutual TLS on loopback, plus profile/password rules."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.v16 import call

from tests.conftest import Csms, start_csms
from tests.support.chargepoint import TestChargePoint, basic_auth_header, open_station_socket
from watthub.security import firmware_signing, pki
from watthub.security.keys import generate_private_key
from watthub.security.passwords import decode_authorization_key
from watthub.timeutil import now_ts

WHITEPAPER_SUITES = {
    # OpenSSL name → IANA name (TC_086/TC_087)
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "AES128-GCM-SHA256": "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "AES256-GCM-SHA384": "TLS_RSA_WITH_AES_256_GCM_SHA384",
}
PASSWORD = "initialpassword1"


@dataclass
class TestPki:
    __test__ = False
    path: Path
    root: pki.CertificateAuthority
    sub: pki.CertificateAuthority

    @property
    def root_file(self) -> Path:
        return self.path / "root-ca.pem"

    def client_context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.root_file))
        if cert is not None:
            ctx.load_cert_chain(*cert)
        return ctx

    def station_cert(
        self, tmp: Path, cn: str, issuer: pki.CertificateAuthority | None = None
    ) -> tuple[Path, Path]:
        """A station (client) certificate + key, like one the station got earlier."""
        issuer = issuer or self.sub
        key = generate_private_key("ec-p256")
        cert = pki.issue_certificate(
            issuer,
            pki.build_name(cn),
            key.public_key(),
            extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
            validity_days=30,
        )
        directory = pki.CaDirectory(tmp)
        name = f"station-{cn}-{cert.serial_number:x}"
        directory.save(name, cert, chain=issuer.intermediates, private_key=key)
        return directory.cert_path(name), directory.key_path(name)


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: Any) -> TestPki:
    """A test network PKI, made once: root + sub-CA, RSA and ECDSA server certificates
    (CN = localhost), a firmware-signing key — what `watthub ca …` produces."""
    path = tmp_path_factory.mktemp("pki")
    directory = pki.CaDirectory(path)
    root = pki.create_root_ca("Test Root CA", key_type="ec-p384")
    sub = pki.create_sub_ca(root, "Test Sub CA")
    directory.save_ca(pki.CaDirectory.ROOT_CA, root)
    directory.save_ca(pki.CaDirectory.SUB_CA, sub)
    for name, key_type in (
        (pki.CaDirectory.SERVER_RSA, "rsa-2048"),
        (pki.CaDirectory.SERVER_ECDSA, "ec-p256"),
    ):
        issued = pki.issue_server_certificate(
            sub,
            "localhost",
            extra_names=["127.0.0.1"],
            key_type=key_type,  # type: ignore[arg-type]
        )
        directory.save_issued(name, issued)
    directory.save_issued(
        pki.CaDirectory.FIRMWARE_SIGNING,
        firmware_signing.create_firmware_signing_certificate(root),
    )
    return TestPki(path, root, sub)


@dataclass
class TlsCsms:
    csms: Csms
    pki: TestPki
    tmp: Path

    @property
    def api(self) -> Any:
        return self.csms.api

    def wss(self, station_id: str) -> str:
        assert self.csms.hub.ocpp_tls is not None
        return f"wss://127.0.0.1:{self.csms.hub.ocpp_tls.port}/ocpp/{station_id}"

    def ws(self, station_id: str) -> str:
        return self.csms.url(station_id)

    async def connect(
        self, station_id: str, *, tls: bool, password: str | None = None, cert: Any = None
    ) -> TestChargePoint:
        return await self.csms.connect(
            station_id,
            password=password,
            register=False,
            url=self.wss(station_id) if tls else self.ws(station_id),
            ssl=self.pki.client_context(cert) if tls else None,
        )

    async def refused(
        self, station_id: str, *, tls: bool, password: str | None = None, cert: Any = None
    ) -> int:
        """Try a connection that must be refused before the upgrade; return the HTTP status."""
        headers = basic_auth_header(station_id, password) if password else None
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            ws = await open_station_socket(
                self.wss(station_id) if tls else self.ws(station_id),
                headers=headers,
                ssl=self.pki.client_context(cert) if tls else None,
            )
            await ws.close()
        response = info.value.response
        # Never reveals which part was wrong.
        assert response.body.decode().strip() in ("Authentication required", "Connection refused")
        return int(response.status_code)


async def _start_tls(
    backend: str, tmp_path: Path, tmp_path_factory: Any, test_pki: TestPki, **overrides: Any
) -> tuple[Any, Csms]:
    pki_dir = tmp_path / "data" / "pki"
    shutil.copytree(test_pki.path, pki_dir)
    return await start_csms(
        backend,
        tmp_path,
        tmp_path_factory,
        tls_port=0,
        tls_host="127.0.0.1",
        tls_cert_file=pki_dir / "server.pem",
        tls_key_file=pki_dir / "server.key",
        tls_ecdsa_cert_file=pki_dir / "server-ecdsa.pem",
        tls_ecdsa_key_file=pki_dir / "server-ecdsa.key",
        tls_client_ca_file=pki_dir / "root-ca.pem",
        **overrides,
    )


@pytest_asyncio.fixture
async def tls(
    backend: str, tmp_path: Path, tmp_path_factory: Any, test_pki: TestPki
) -> AsyncIterator[TlsCsms]:
    hub, handle = await _start_tls(backend, tmp_path, tmp_path_factory, test_pki)
    try:
        yield TlsCsms(handle, test_pki, tmp_path)
    finally:
        await handle.close_stations()
        await handle.api.aclose()
        await hub.stop()


async def _boot(cp: TestChargePoint, **extra: Any) -> None:
    answer = await cp.boot(**extra)
    assert answer.status == "Accepted"
    for connector in (0, 1):
        await cp.status(connector, "Available")


async def _eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


def _csr(cn: str, key_type: str = "ec-p256") -> tuple[str, Any]:
    key = generate_private_key(key_type)  # type: ignore[arg-type]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


# -- passwords (profile 1/2) -------------------------------------------------------------------


async def test_tc_073_update_charge_point_password(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP073", password=PASSWORD)
    cp = await tls.connect("CP073", tls=False, password=PASSWORD)
    await _boot(cp)

    response = await tls.api.post("/stations/CP073/rotate-password")
    assert response.status_code == 200, response.text
    assert response.json() == {"stationId": "CP073", "status": "Accepted", "switched": True}
    sent = cp.sent("ChangeConfiguration")[-1]
    assert sent["key"] == "AuthorizationKey"
    key = sent["value"]
    assert len(key) <= 40 and bytes.fromhex(key)  # hex, at most 40 characters
    new_password = decode_authorization_key(key)
    assert 16 <= len(new_password) <= 20
    await tls.csms.close_stations()

    # A01.FR.03: the old password no longer works, the new one does.
    assert await tls.refused("CP073", tls=False, password=PASSWORD) == 401
    cp = await tls.connect("CP073", tls=False, password=new_password.decode())
    await _boot(cp)

    # Never stored in clear: the message log holds the frame with the value redacted.
    async def logged() -> Any:
        r = await tls.api.get("/stations/CP073/messages", params={"action": "ChangeConfiguration"})
        return [m for m in r.json() if m["direction"] == "out"]

    entries = await _eventually(logged)
    assert entries[0]["frame"][3]["key"] == "AuthorizationKey"
    assert key not in str(entries) and entries[0]["frame"][3]["value"] == "***redacted***"
    # Even a station that wrongly returns the write-only key does not get it stored.
    cp.answers["GetConfiguration"] = {
        "configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": key}]
    }
    assert (await tls.csms.command("CP073", "GetConfiguration", {})).status_code == 200
    response = await tls.api.get("/stations/CP073/configuration")
    assert response.status_code == 200
    assert [c["key"] for c in response.json()] == ["AuthorizationKey"]
    assert key not in response.text


async def test_password_rotation_keeps_old_password_until_accepted(tls: TlsCsms) -> None:
    await tls.csms.add_station("CPROT", password=PASSWORD)
    cp = await tls.connect("CPROT", tls=False, password=PASSWORD)
    await _boot(cp)
    cp.answers["ChangeConfiguration"] = {"status": "Rejected"}
    response = await tls.api.post("/stations/CPROT/rotate-password")
    assert response.json()["switched"] is False
    rejected_key = cp.sent("ChangeConfiguration")[-1]["value"]
    await tls.csms.close_stations()
    # A01.FR.04: the old password stays valid, the rejected one never became valid.
    rejected = decode_authorization_key(rejected_key).decode()
    assert await tls.refused("CPROT", tls=False, password=rejected) == 401
    cp = await tls.connect("CPROT", tls=False, password=PASSWORD)
    await _boot(cp)
    # A bad AuthorizationKey is refused before it reaches the station.
    bad = await tls.csms.command(
        "CPROT", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "short"}
    )
    assert bad.status_code == 422
    assert cp.sent("ChangeConfiguration") == []


async def test_tc_085_basic_authentication(tls: TlsCsms) -> None:
    # The OCTT vector: plaintext "OCA_OCTT_admin_test" (hex 4F43415F...74657374).
    password = bytes.fromhex("4F43415F4F4354545F61646D696E5F74657374").decode()
    await tls.csms.add_station("CP085", password=password)
    assert await tls.refused("CP085", tls=False) == 401  # no Authorization header
    assert await tls.refused("CP085", tls=False, password="wrong-password-1") == 401
    cp = await tls.connect("CP085", tls=False, password=password)
    await _boot(cp)
    events = (await tls.api.get("/stations/CP085/security-events")).json()
    assert {e["type"] for e in events} == {"FailedToAuthenticate"}
    assert {e["techInfo"] for e in events} == {
        "no or malformed Basic authorization header",
        "wrong password",
    }
    # The operator registers the OCTT's configured value in its hex form (32-40 characters):
    # the OCTT decodes it and sends the raw password; stations that send the hex work too.
    hex_form = "4F43415F4F4354545F61646D696E5F74657374"
    await tls.csms.add_station("CP085H", password=hex_form)
    assert await tls.refused("CP085H", tls=False) == 401
    cp = await tls.connect("CP085H", tls=False, password=password)
    await _boot(cp)
    await tls.csms.close_stations()
    cp = await tls.connect("CP085H", tls=False, password=hex_form)
    await _boot(cp)
    # A generated password (PUT .../password) is hex too: the decoded form is what works.
    generated = (await tls.api.put("/stations/CP085H/password", json={})).json()["password"]
    await tls.csms.close_stations()
    cp = await tls.connect("CP085H", tls=False, password=bytes.fromhex(generated).decode())
    await _boot(cp)


# -- TLS (profile 2/3) -------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_tc_086_tls_server_certificate(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP086", password=PASSWORD, securityProfile=2)
    for openssl_name in WHITEPAPER_SUITES:
        ctx = tls.pki.client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(openssl_name)
        ws = await open_station_socket(
            tls.wss("CP086"), headers=basic_auth_header("CP086", PASSWORD), ssl=ctx
        )
        ssl_object = ws.transport.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.2"
        assert ssl_object.cipher()[0] == openssl_name
        server_cert = x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True))
        assert server_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
            "localhost"
        )
        assert server_cert.serial_number > 0
        summary = pki.summarize_certificate(server_cert)
        expected_key = "EC-" if "ECDSA" in openssl_name else "RSA-2048"
        assert summary.key.startswith(expected_key)
        await ws.close()
    # TLS below 1.2 is refused at the handshake.
    old = tls.pki.client_context()
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await open_station_socket(tls.wss("CP086"), ssl=old)
    cp = await tls.connect("CP086", tls=True, password=PASSWORD)
    await _boot(cp)
    assert (await tls.api.get("/stations/CP086")).json()["connected"] is True


async def test_tc_087_tls_client_certificate(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP087", securityProfile=3)
    cert = tls.pki.station_cert(tls.tmp, "CP087")  # serial not known yet: CN = station id
    for openssl_name in WHITEPAPER_SUITES:
        ctx = tls.pki.client_context(cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(openssl_name)
        ws = await open_station_socket(tls.wss("CP087"), ssl=ctx)
        assert ws.transport.get_extra_info("ssl_object").cipher()[0] == openssl_name
        await ws.close()
    cp = await tls.connect("CP087", tls=True, cert=cert)
    await _boot(cp)
    # A certificate from another CA fails the TLS handshake itself.
    stranger = pki.create_root_ca("Stranger", key_type="ec-p256")
    foreign = tls.pki.station_cert(tls.tmp, "CP087", issuer=stranger)
    with pytest.raises((ssl.SSLError, ConnectionError, websockets.exceptions.InvalidHandshake)):
        ws = await open_station_socket(tls.wss("CP087"), ssl=tls.pki.client_context(foreign))
        await ws.recv()


async def test_tc_088_subprotocol_negotiation_over_tls(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP088", password=PASSWORD, securityProfile=2)
    headers = basic_auth_header("CP088", PASSWORD)
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        await open_station_socket(
            tls.wss("CP088"),
            subprotocols=["ocpp0.1"],
            headers=headers,
            ssl=tls.pki.client_context(),
        )
    assert info.value.response.status_code == 400
    ws = await open_station_socket(
        tls.wss("CP088"),
        subprotocols=["ocpp0.1", "ocpp1.6"],
        headers=headers,
        ssl=tls.pki.client_context(),
    )
    assert ws.subprotocol == "ocpp1.6"
    await ws.close()


async def test_wrong_profile_is_refused_at_the_handshake(tls: TlsCsms) -> None:
    await tls.csms.add_station("P0")  # no password: profile 0
    await tls.csms.add_station("P2", password=PASSWORD, securityProfile=2)
    await tls.csms.add_station("P3", securityProfile=3)
    assert (await tls.api.get("/stations/P0/security-profile")).json()["securityProfile"] == 0
    assert await tls.refused("P0", tls=True) == 403
    assert await tls.refused("P2", tls=False, password=PASSWORD) == 403
    assert await tls.refused("P2", tls=True) == 401
    assert await tls.refused("P3", tls=False) == 403
    assert await tls.refused("P3", tls=True, password=PASSWORD) == 401  # no client certificate
    wrong_cn = tls.pki.station_cert(tls.tmp, "SOMEONE-ELSE")
    assert await tls.refused("P3", tls=True, cert=wrong_cn) == 401
    events = (await tls.api.get("/security-events")).json()
    reasons = {(e["stationId"], e["techInfo"]) for e in events if e["source"] == "csms"}
    assert ("P2", "profile 2 requires wss://; came on ws://") in reasons
    assert ("P3", "profile 3 but no client certificate") in reasons
    assert any(s == "P3" and "CN 'SOMEONE-ELSE' does not match" in r for s, r in reasons)
    # The right way in still works.
    cp = await tls.connect("P0", tls=False)
    await _boot(cp)


# -- security profile upgrade / downgrade ------------------------------------------------------


async def test_tc_083_upgrade_security_profile(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP083", password=PASSWORD)  # profile 1
    cp = await tls.connect("CP083", tls=False, password=PASSWORD)
    await _boot(cp)
    response = await tls.api.post(
        "/stations/CP083/change-configuration", json={"key": "SecurityProfile", "value": "2"}
    )
    assert response.json() == {"status": "Accepted"}
    assert cp.sent("ChangeConfiguration")[-1] == {"key": "SecurityProfile", "value": "2"}
    response = await tls.api.post("/stations/CP083/reset", json={"type": "Hard"})
    assert response.json() == {"status": "Accepted"}
    await tls.csms.close_stations()

    cp = await tls.connect("CP083", tls=True, password=PASSWORD)  # the new profile: accepted
    await _boot(cp)
    await tls.csms.close_stations()
    assert await tls.refused("CP083", tls=False, password=PASSWORD) == 403  # old profile
    cp = await tls.connect("CP083", tls=True, password=PASSWORD)
    await _boot(cp)
    await asyncio.sleep(0.3)
    assert cp.received == []  # nothing unsolicited after the reconnect and boot
    profile = (await tls.api.get("/stations/CP083/security-profile")).json()
    assert profile["securityProfile"] == 2
    assert [(c["oldProfile"], c["newProfile"], c["via"]) for c in profile["changes"]] == [
        (1, 2, "ocpp")
    ]


async def test_tc_083_upgrade_security_profile_2_to_3(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP0833", password=PASSWORD, securityProfile=2)
    cp = await tls.connect("CP0833", tls=True, password=PASSWORD)
    await _boot(cp)
    response = await tls.csms.command(
        "CP0833", "ChangeConfiguration", {"key": "SecurityProfile", "value": "3"}
    )
    assert response.json() == {"status": "Accepted"}
    assert (await tls.api.post("/stations/CP0833/reset", json={"type": "Hard"})).status_code == 200
    await tls.csms.close_stations()
    cert = tls.pki.station_cert(tls.tmp, "CP0833")
    cp = await tls.connect("CP0833", tls=True, cert=cert)  # the new profile: accepted
    await _boot(cp)
    await tls.csms.close_stations()
    # Same endpoint, old profile (TLS + Basic auth, no client certificate): not accepted.
    assert await tls.refused("CP0833", tls=True, password=PASSWORD) == 401
    cp = await tls.connect("CP0833", tls=True, cert=cert)
    await _boot(cp)


async def test_downgrade_through_ocpp_is_refused(tls: TlsCsms) -> None:
    await tls.csms.add_station("CPDOWN", password=PASSWORD, securityProfile=2)
    cp = await tls.connect("CPDOWN", tls=True, password=PASSWORD)
    await _boot(cp)
    for value in ("1", "2"):
        response = await tls.csms.command(
            "CPDOWN", "ChangeConfiguration", {"key": "SecurityProfile", "value": value}
        )
        assert response.status_code == 409, response.text
        assert "only raise" in response.json()["detail"]
    assert cp.sent("ChangeConfiguration") == []
    assert (await tls.api.get("/stations/CPDOWN/security-profile")).json()["changes"] == []
    # Only an operator can lower it, with an audit record.
    response = await tls.api.put(
        "/stations/CPDOWN/security-profile", json={"profile": 1, "reason": "TLS broken on site"}
    )
    assert response.json() == {"stationId": "CPDOWN", "securityProfile": 1, "previous": 2}
    changes = (await tls.api.get("/stations/CPDOWN/security-profile")).json()["changes"]
    assert [(c["via"], c["reason"]) for c in changes] == [("operator", "TLS broken on site")]
    await tls.csms.close_stations()
    cp = await tls.connect("CPDOWN", tls=False, password=PASSWORD)
    await _boot(cp)


# -- certificates ------------------------------------------------------------------------------


async def _renewal(
    tls: TlsCsms, cp: TestChargePoint, station_id: str, key_type: str = "ec-p256"
) -> tuple[str, Any]:
    response = await tls.api.post(f"/stations/{station_id}/renew-certificate")
    assert response.json() == {"status": "Accepted"}
    # Validated: requestedMessage SignChargePointCertificate, connectorId omitted.
    assert cp.sent("ExtendedTriggerMessage")[-1] == {
        "requestedMessage": "SignChargePointCertificate"
    }
    csr, key = _csr("whatever-the-station-put", key_type)
    answer = await cp.call(call.SignCertificate(csr=csr))
    assert answer.status == "Accepted"
    count = len(cp.sent("CertificateSigned")) + 1
    chain = (await cp.wait_for("CertificateSigned", count=count))["certificateChain"]
    return chain, key


async def test_tc_074_update_charge_point_certificate(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP074", securityProfile=3)
    old_cert = tls.pki.station_cert(tls.tmp, "CP074")
    cp = await tls.connect("CP074", tls=True, cert=old_cert)
    await _boot(cp, charge_point_serial_number="SN-074")
    chain, key = await _renewal(tls, cp, "CP074")
    assert "\r" not in chain
    certs = pki.load_certificates(chain)
    leaf = certs[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN-074"
    assert pki.certificate_to_pem(certs[1]) == tls.pki.sub.cert_pem  # chain with the sub-CA
    assert leaf.signature_hash_algorithm.name == "sha256"
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()

    async def accepted() -> Any:
        issued = (await tls.api.get("/stations/CP074/certificates")).json()["issued"]
        return issued if issued and issued[0]["status"] == "Accepted" else None

    issued = await _eventually(accepted)
    assert issued[0]["subject"] == "CN=SN-074"
    # SteVe's OCTT run also renews with an RSA-2048 CSR: same checks.
    rsa_chain, rsa_key = await _renewal(tls, cp, "CP074", "rsa-2048")
    rsa_leaf = pki.load_certificates(rsa_chain)[0]
    assert "\r" not in rsa_chain
    assert rsa_leaf.public_key().public_numbers() == rsa_key.public_key().public_numbers()
    assert rsa_leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN-074"
    assert rsa_leaf.signature_hash_algorithm.name == "sha256"
    assert [a for a, _ in cp.received] == ["ExtendedTriggerMessage", "CertificateSigned"] * 2
    await tls.csms.close_stations()

    # The station reconnects with its new certificate: accepted. The old one (CN = id) is not
    # any more: the serial is now known from BootNotification.
    new_dir = tls.tmp / "new"
    new_dir.mkdir()
    (new_dir / "cert.pem").write_text(chain)
    (new_dir / "key.pem").write_text(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )
    cp = await tls.connect("CP074", tls=True, cert=(new_dir / "cert.pem", new_dir / "key.pem"))
    await _boot(cp, charge_point_serial_number="SN-074")
    await tls.csms.close_stations()
    assert await tls.refused("CP074", tls=True, cert=old_cert) == 401
    expiring = (await tls.api.get("/certificates/expiring", params={"days": 400})).json()
    assert [s["stationId"] for s in expiring["stations"]] == ["CP074"]


async def test_tc_077_invalid_charge_point_certificate_event(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP077", securityProfile=3)
    cp = await tls.connect("CP077", tls=True, cert=tls.pki.station_cert(tls.tmp, "CP077"))
    await _boot(cp)
    cp.answers["CertificateSigned"] = {"status": "Rejected"}
    await _renewal(tls, cp, "CP077")
    await cp.call(
        call.SecurityEventNotification(
            type="InvalidChargePointCertificate", timestamp=now_ts(), tech_info="bad chain"
        )
    )

    async def rejected() -> Any:
        issued = (await tls.api.get("/stations/CP077/certificates")).json()["issued"]
        return issued if issued and issued[0]["status"] == "Rejected" else None

    await _eventually(rejected)
    events = (await tls.api.get("/stations/CP077/security-events")).json()
    assert events[0]["type"] == "InvalidChargePointCertificate"
    assert events[0]["techInfo"] == "bad chain"
    assert events[0]["critical"] is False


def _hash_answer(pem: str, algorithm: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    data = pki.certificate_hash_data(pem, None, algorithm)  # type: ignore[arg-type]
    return lambda _payload: {"status": "Accepted", "certificateHashData": [data]}


async def _install_root(tls: TlsCsms, cert_type: str) -> None:
    await tls.csms.add_station("CP075")
    cp = await tls.connect("CP075", tls=False)
    await _boot(cp)
    root_pem = tls.pki.root.cert_pem
    response = await tls.api.post(
        "/stations/CP075/install-certificate",
        json={"certificateType": cert_type, "certificate": root_pem},
    )
    assert response.json() == {"status": "Accepted"}
    assert cp.sent("InstallCertificate")[-1] == {
        "certificateType": cert_type,
        "certificate": root_pem,
    }
    cp.answers["GetInstalledCertificateIds"] = _hash_answer(root_pem, "SHA256")
    response = await tls.api.post(
        "/stations/CP075/get-installed-certificate-ids", json={"certificateType": cert_type}
    )
    assert response.json()["status"] == "Accepted"
    assert cp.sent("GetInstalledCertificateIds")[-1] == {"certificateType": cert_type}
    installed = (await tls.api.get("/stations/CP075/certificates")).json()["installed"]
    assert len(installed) == 1
    assert installed[0]["certificateType"] == cert_type
    assert installed[0]["subject"] == "CN=Test Root CA"
    assert installed[0]["serialNumber"] == format(tls.pki.root.certificate.serial_number, "x")


async def test_tc_075_1_install_manufacturer_root_certificate(tls: TlsCsms) -> None:
    await _install_root(tls, "ManufacturerRootCertificate")


async def test_tc_075_2_install_central_system_root_certificate(tls: TlsCsms) -> None:
    await _install_root(tls, "CentralSystemRootCertificate")


async def test_tc_075_2_install_watthub_root_by_default(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP0752")
    cp = await tls.connect("CP0752", tls=False)
    await _boot(cp)
    response = await tls.api.post(
        "/stations/CP0752/install-certificate",
        json={"certificateType": "CentralSystemRootCertificate"},
    )
    assert response.json() == {"status": "Accepted"}
    assert cp.sent("InstallCertificate")[-1]["certificate"] == tls.pki.root.cert_pem


async def test_tc_076_delete_specific_certificate(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP076")
    cp = await tls.connect("CP076", tls=False)
    await _boot(cp)
    root_pem = tls.pki.root.cert_pem
    for algorithm in ("SHA256", "SHA384", "SHA512"):
        response = await tls.api.post(
            "/stations/CP076/install-certificate",
            json={"certificateType": "CentralSystemRootCertificate", "certificate": root_pem},
        )
        assert response.json() == {"status": "Accepted"}
        cp.answers["GetInstalledCertificateIds"] = _hash_answer(root_pem, algorithm)
        await tls.api.post(
            "/stations/CP076/get-installed-certificate-ids",
            json={"certificateType": "CentralSystemRootCertificate"},
        )
        reported = cp.answers["GetInstalledCertificateIds"]({})["certificateHashData"][0]  # type: ignore[operator]
        installed = (await tls.api.get("/stations/CP076/certificates")).json()["installed"]
        assert [c["hashAlgorithm"] for c in installed] == [algorithm]
        response = await tls.api.delete(f"/stations/CP076/certificates/{installed[0]['id']}")
        assert response.json() == {"status": "Accepted"}
        # M04.FR.07: the hash algorithm (and data) the station reported.
        assert cp.sent("DeleteCertificate")[-1] == {"certificateHashData": reported}
        assert (await tls.api.get("/stations/CP076/certificates")).json()["installed"] == []


async def test_tc_078_invalid_central_system_certificate_event(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP078")
    cp = await tls.connect("CP078", tls=False)
    await _boot(cp)
    cp.answers["InstallCertificate"] = {"status": "Rejected"}
    response = await tls.api.post(
        "/stations/CP078/install-certificate",
        json={"certificateType": "CentralSystemRootCertificate"},
    )
    assert response.json() == {"status": "Rejected"}
    await cp.call(
        call.SecurityEventNotification(
            type="InvalidCentralSystemCertificate", timestamp=now_ts(), tech_info=None
        )
    )
    assert (await tls.api.get("/stations/CP078/certificates")).json()["installed"] == []
    events = (await tls.api.get("/stations/CP078/security-events")).json()
    assert [e["type"] for e in events] == ["InvalidCentralSystemCertificate"]


# -- logs --------------------------------------------------------------------------------------


async def test_tc_079_get_security_log(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP079")
    cp = await tls.connect("CP079", tls=False)
    await _boot(cp)
    location = "ftp://logs.example.test/upload"
    response = await tls.api.post(
        "/stations/CP079/get-log",
        json={"logType": "SecurityLog", "log": {"remoteLocation": location}},
    )
    assert response.json() == {"status": "Accepted", "filename": "log.zip"}
    sent = cp.sent("GetLog")[-1]
    assert sent == {"logType": "SecurityLog", "log": {"remoteLocation": location}, "requestId": 1}
    for status in ("Uploading", "Uploaded"):
        assert await cp.call(call.LogStatusNotification(status=status, request_id=1)) is not None
    requests = (await tls.api.get("/stations/CP079/log-requests")).json()
    assert requests[0]["status"] == "Uploaded"
    assert requests[0]["answer"] == "Accepted" and requests[0]["filename"] == "log.zip"
    assert [h["status"] for h in requests[0]["history"]] == ["Uploading", "Uploaded"]
    assert requests[0]["files"] == []  # an external location: nothing lands in WattHub
    bad = await tls.api.post(
        "/stations/CP079/get-log",
        json={"logType": "SecurityLog", "log": {"remoteLocation": location}, "transport": "ftp"},
    )
    assert bad.status_code == 422 and "transport" in bad.json()["detail"]


async def test_get_log_uploads_to_watthub_by_default(csms: Csms, station: TestChargePoint) -> None:
    """GetLog without remoteLocation: the station gets WattHub's own HTTP upload location; the
    uploaded log is listed for the station and downloadable with the API token."""
    station.answers["GetLog"] = {"status": "Accepted", "filename": "security.log"}
    response = await csms.api.post("/stations/CP1/get-log", json={"logType": "SecurityLog"})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted", "filename": "security.log"}
    sent = station.sent("GetLog")[-1]
    location = sent["log"]["remoteLocation"]
    assert location.startswith(f"http://127.0.0.1:{csms.hub.api_port}/files/upload/")
    assert sent["requestId"] == 1 and sent["logType"] == "SecurityLog"

    await station.call(call.LogStatusNotification(status="Uploading", request_id=1))
    data = b"2024-01-01T00:00:00Z StartupOfTheDevice\n" * 200
    async with httpx.AsyncClient() as anonymous:  # a station has no API token
        put = await anonymous.put(location + "security.log", content=data)
    assert put.status_code == 201, put.text
    await station.call(call.LogStatusNotification(status="Uploaded", request_id=1))

    requests = (await csms.api.get("/stations/CP1/log-requests")).json()
    assert requests[0]["status"] == "Uploaded"
    assert [h["status"] for h in requests[0]["history"]] == ["Uploading", "Uploaded"]
    assert requests[0]["location"] == location
    [listed] = requests[0]["files"]
    assert listed["filename"] == "security.log"
    assert listed["sha256"] == hashlib.sha256(data).hexdigest()
    files = (await csms.api.get("/stations/CP1/diagnostics")).json()["files"]
    assert [f["id"] for f in files] == [listed["id"]]
    got = await csms.api.get(listed["downloadPath"].removeprefix("/api/v1"))
    assert got.status_code == 200 and got.content == data
    async with httpx.AsyncClient() as anonymous:
        denied = await anonymous.get(csms.api_base + listed["downloadPath"].removeprefix("/api/v1"))
    assert denied.status_code == 401
    # FTP is only offered when the receiver runs.
    ftp = await csms.api.post(
        "/stations/CP1/get-log", json={"logType": "DiagnosticsLog", "transport": "ftp"}
    )
    assert ftp.status_code == 409 and "ftp_enabled" in ftp.json()["detail"]
    assert len(station.sent("GetLog")) == 1


# -- signed firmware ---------------------------------------------------------------------------


async def test_tc_080_secure_firmware_update(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP080")
    cp = await tls.connect("CP080", tls=False)
    await _boot(cp)
    firmware = b"firmware image v2" * 100
    location = "https://firmware.example.test/v2.bin"
    response = await tls.api.post(
        "/stations/CP080/signed-update-firmware",
        json={
            "location": location,
            "signWithWattHubKey": True,
            "firmwareBase64": base64.b64encode(firmware).decode(),
        },
    )
    assert response.json() == {"status": "Accepted"}
    sent = cp.sent("SignedUpdateFirmware")[-1]
    assert sent["requestId"] == 1
    fw = sent["firmware"]
    assert fw["location"] == location
    assert fw["retrieveDateTime"]  # required
    signing_pem = (tls.pki.path / "firmware-signing.pem").read_text()
    assert fw["signingCertificate"] == pki.certificate_to_pem(pki.load_certificates(signing_pem)[0])
    assert firmware_signing.verify_firmware_signature(
        firmware, fw["signature"], fw["signingCertificate"]
    )
    for status in ("Downloading", "Downloaded", "SignatureVerified"):
        await cp.call(call.SignedFirmwareStatusNotification(status=status, request_id=1))
    await cp.status(1, "Unavailable")
    for status in ("Installing", "InstallRebooting"):
        await cp.call(call.SignedFirmwareStatusNotification(status=status, request_id=1))
    await cp.boot()
    await cp.call(
        call.SecurityEventNotification(type="FirmwareUpdated", timestamp=now_ts(), tech_info=None)
    )
    await cp.status(1, "Available")
    await cp.call(call.SignedFirmwareStatusNotification(status="Installed", request_id=1))
    updates = (await tls.api.get("/stations/CP080/signed-firmware-updates")).json()
    assert updates[0]["status"] == "Installed"
    assert [h["status"] for h in updates[0]["history"]] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
        "Installed",
    ]
    critical = (await tls.api.get("/security-events", params={"criticalOnly": True})).json()
    assert [e["type"] for e in critical] == ["FirmwareUpdated"]
    await asyncio.sleep(0.3)  # nothing after the mid-flow boot
    assert [a for a, _ in cp.received] == ["SignedUpdateFirmware"]


async def test_tc_081_secure_firmware_update_invalid_signature(tls: TlsCsms) -> None:
    await tls.csms.add_station("CP081")
    cp = await tls.connect("CP081", tls=False)
    await _boot(cp)
    certificate = tls.pki.root.cert_pem
    signature = base64.b64encode(b"not a real signature").decode()
    response = await tls.api.post(
        "/stations/CP081/signed-update-firmware",
        json={
            "location": "https://firmware.example.test/v3.bin",
            "signature": signature,
            "signingCertificate": certificate,
            "requestId": 81,
        },
    )
    assert response.json() == {"status": "Accepted"}
    fw = cp.sent("SignedUpdateFirmware")[-1]["firmware"]
    assert (fw["signature"], fw["signingCertificate"]) == (signature, certificate)
    for status in ("Downloading", "Downloaded", "InvalidSignature"):
        await cp.call(call.SignedFirmwareStatusNotification(status=status, request_id=81))
    updates = (await tls.api.get("/stations/CP081/signed-firmware-updates")).json()
    assert updates[0]["requestId"] == 81 and updates[0]["status"] == "InvalidSignature"


async def test_signed_firmware_only_station_never_gets_update_firmware(tls: TlsCsms) -> None:
    await tls.csms.add_station("CPSFO")
    cp = await tls.connect("CPSFO", tls=False)
    await _boot(cp)
    response = await tls.api.put("/stations/CPSFO/signed-firmware-only", json={"enabled": True})
    assert response.status_code == 200
    response = await tls.csms.command(
        "CPSFO",
        "UpdateFirmware",
        {"location": "https://fw.example.test/a.bin", "retrieveDate": now_ts()},
    )
    assert response.status_code == 409
    assert "signed firmware only" in response.json()["detail"]
    assert cp.sent("UpdateFirmware") == []


async def test_plain_listener_can_be_switched_off(
    backend: str, tmp_path: Path, tmp_path_factory: Any, test_pki: TestPki
) -> None:
    hub, handle = await _start_tls(
        backend, tmp_path, tmp_path_factory, test_pki, plain_listener=False
    )
    try:
        assert hub.ocpp.port == 0
        assert handle.api_base  # the API still runs
        assert hub.describe()["ocpp_url"] is None
        tls = TlsCsms(handle, test_pki, tmp_path)
        await handle.add_station("CPTLS", password=PASSWORD, securityProfile=2)
        cp = await tls.connect("CPTLS", tls=True, password=PASSWORD)
        await _boot(cp)
    finally:
        await handle.close_stations()
        await handle.api.aclose()
        await hub.stop()


async def test_auto_registration_over_tls_needs_a_client_certificate(
    backend: str, tmp_path: Path, tmp_path_factory: Any, test_pki: TestPki
) -> None:
    """auto_register on the TLS listener registers profile 3 for a station with a verified
    client certificate (CN = station id); Basic auth or a wrong CN is refused, nothing stored.
    The plain listener still auto-registers profile 0."""
    hub, handle = await _start_tls(
        backend, tmp_path, tmp_path_factory, test_pki, auto_register=True
    )
    try:
        tls = TlsCsms(handle, test_pki, tmp_path)
        cert = test_pki.station_cert(tmp_path, "CPAUTO3")
        cp = await tls.connect("CPAUTO3", tls=True, cert=cert)
        await _boot(cp)
        profile = (await tls.api.get("/stations/CPAUTO3/security-profile")).json()
        assert profile["securityProfile"] == 3, profile

        async def refused(station_id: str, **kwargs: Any) -> int:
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                ws = await open_station_socket(tls.wss(station_id), **kwargs)
                await ws.close()
            return int(info.value.response.status_code)

        basic = basic_auth_header("CPAUTO2", PASSWORD)
        assert await refused("CPAUTO2", headers=basic, ssl=test_pki.client_context()) == 404
        other = test_pki.station_cert(tmp_path, "SOMEONE-ELSE")
        assert await refused("CPAUTOX", ssl=test_pki.client_context(other)) == 404
        for station_id in ("CPAUTO2", "CPAUTOX"):
            assert (await tls.api.get(f"/stations/{station_id}")).status_code == 404

        plain = await tls.connect("CPAUTO0", tls=False)
        await _boot(plain)
        profile = (await tls.api.get("/stations/CPAUTO0/security-profile")).json()
        assert profile["securityProfile"] == 0
    finally:
        await handle.close_stations()
        await handle.api.aclose()
        await hub.stop()
