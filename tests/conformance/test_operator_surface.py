"""Reference §3 checklist: what an OCTT operator must be able to send through WattHub, and what
WattHub must answer in every state the OCTT uses.

Part 1 posts free-form payloads to the generic ``POST /stations/{id}/ocpp/{Action}`` endpoint and
checks that the TestChargePoint received exactly what was posted (except the ids WattHub fills
on purpose when they are omitted: ReserveNow.reservationId/parentIdTag, SendLocalList.listVersion,
GetLog/SignedUpdateFirmware.requestId), and that the station's answer comes back unchanged.

Part 2 sends every listed station → CSMS message in the listed states and checks each gets a
schema-valid CALLRESULT (the ``ocpp`` package returns ``None`` for a CALLERROR and validates
results), plus what WattHub records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ocpp.v16 import call, call_result

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from tests.support.poll import eventually
from watthub.security import pki
from watthub.timeutil import format_ts, now_ts, utcnow


def _at(seconds: float) -> str:
    return format_ts(utcnow() + timedelta(seconds=seconds))


async def sent_unchanged(
    csms: Csms, cp: TestChargePoint, action: str, payload: dict[str, Any], station: str = "CP1"
) -> dict[str, Any]:
    """Post ``payload`` through the generic endpoint; the station must get it as posted and the
    operator must get the station's answer as the station gave it."""
    before = len(cp.sent(action))
    response = await csms.command(station, action, payload)
    assert response.status_code == 200, (action, payload, response.text)
    received = cp.sent(action)
    assert len(received) == before + 1, f"{action} reached the station {len(received) - before}x"
    assert received[-1] == payload, (action, payload, received[-1])
    return response.json()  # type: ignore[no-any-return]


# -- part 1: operations with free-form parameters ------------------------------------------------


async def test_core_operations_free_form(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    assert await sent_unchanged(csms, station, "ClearCache", {}) == {"status": "Accepted"}
    # RemoteStartTransaction with and without a chargingProfile; any idTag (the OCTT's own).
    for payload in (
        {"idTag": "OCTT-UNKNOWN-TAG"},
        {"idTag": "TAG1", "connectorId": 1},
        {
            "idTag": "TAG1",
            "connectorId": 1,
            "chargingProfile": {
                "chargingProfileId": 5,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6000.0}],
                },
            },
        },
    ):
        await sent_unchanged(csms, station, "RemoteStartTransaction", payload)
    # RemoteStopTransaction with a transactionId WattHub never assigned (TC_028, quirk 6).
    station.answers["RemoteStopTransaction"] = {"status": "Rejected"}
    for tx_id in (987654, 0, -1):
        answer = await sent_unchanged(
            csms, station, "RemoteStopTransaction", {"transactionId": tx_id}
        )
        assert answer == {"status": "Rejected"}
    for kind in ("Hard", "Soft"):
        await sent_unchanged(csms, station, "Reset", {"type": kind})
    # UnlockConnector: any connectorId, and every answer comes back as is.
    for connector, status in ((1, "Unlocked"), (7, "NotSupported"), (2, "UnlockFailed")):
        station.answers["UnlockConnector"] = {"status": status}
        answer = await sent_unchanged(csms, station, "UnlockConnector", {"connectorId": connector})
        assert answer == {"status": status}
    # GetConfiguration: all keys (key omitted or empty) and specific/custom keys.
    station.answers["GetConfiguration"] = {"configurationKey": [], "unknownKey": ["AcmeKey"]}
    for payload in ({}, {"key": []}, {"key": ["SupportedFeatureProfiles", "AcmeKey"]}):
        answer = await sent_unchanged(csms, station, "GetConfiguration", payload)
        assert answer["unknownKey"] == ["AcmeKey"]
    # ChangeConfiguration: a custom key, invalid values, the TC_021 value.
    for payload, status in (
        ({"key": "AcmeCustomKey", "value": "on"}, "NotSupported"),
        ({"key": "MeterValueSampleInterval", "value": "-1"}, "Rejected"),
        ({"key": "MeterValueSampleInterval", "value": "abc"}, "Rejected"),
        ({"key": "MeterValueSampleInterval", "value": "60"}, "Accepted"),
        ({"key": "HeartbeatInterval", "value": ""}, "Rejected"),
    ):
        station.answers["ChangeConfiguration"] = {"status": status}
        assert await sent_unchanged(csms, station, "ChangeConfiguration", payload) == {
            "status": status
        }
    for payload in (
        {"connectorId": 0, "type": "Inoperative"},
        {"connectorId": 1, "type": "Operative"},
        {"connectorId": 3, "type": "Inoperative"},
    ):
        await sent_unchanged(csms, station, "ChangeAvailability", payload)
    # DataTransfer to the station (vendor-specific, free-form).
    await sent_unchanged(
        csms, station, "DataTransfer", {"vendorId": "com.octt", "messageId": "x", "data": "{}"}
    )


async def test_change_configuration_security_keys_free_form(csms: Csms) -> None:
    # AuthorizationKey as the OCTT's hex vector. (SecurityProfile → current+1 needs the TLS
    # listener: test_security.py::test_tc_083_* send it through both endpoints.)
    await csms.add_station("CPSEC", password="initialpassword1")
    cp = await csms.connect("CPSEC", register=False, password="initialpassword1")
    await cp.booted()
    key = "4F43415F4F4354545F61646D696E5F74657374"  # "OCA_OCTT_admin_test"
    await sent_unchanged(
        csms, cp, "ChangeConfiguration", {"key": "AuthorizationKey", "value": key}, "CPSEC"
    )
    # Lowering/re-setting the profile through OCPP is refused with the reason (A00.FR.005).
    same = await csms.command(
        "CPSEC", "ChangeConfiguration", {"key": "SecurityProfile", "value": "1"}
    )
    assert same.status_code == 409 and "only raise" in same.json()["detail"]
    await csms.close_stations()
    # The station now authenticates with the decoded password.
    cp = await csms.connect("CPSEC", register=False, password="OCA_OCTT_admin_test")
    assert (await cp.boot()).status == "Accepted"


async def test_feature_operations_free_form(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("PARENT")
    await csms.add_tag("TAG1", parentIdTag="PARENT")
    # Local list.
    station.answers["GetLocalListVersion"] = {"listVersion": -1}
    assert await sent_unchanged(csms, station, "GetLocalListVersion", {}) == {"listVersion": -1}
    for payload in (
        {
            "listVersion": 5,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "ANY", "idTagInfo": {"status": "Accepted"}}],
        },
        {"listVersion": 6, "updateType": "Full", "localAuthorizationList": []},
        {
            "listVersion": 7,
            "updateType": "Differential",
            "localAuthorizationList": [
                {"idTag": "NEW", "idTagInfo": {"status": "Blocked", "parentIdTag": "PARENT"}},
                {"idTag": "ANY"},
            ],
        },
    ):
        await sent_unchanged(csms, station, "SendLocalList", payload)
    # Firmware management: the OCTT's configured URLs, as given.
    await sent_unchanged(
        csms,
        station,
        "UpdateFirmware",
        {
            "location": "ftp://octt:pw@fw.example.com/fw.bin",
            "retrieveDate": _at(60),
            "retries": 1,
            "retryInterval": 10,
        },
    )
    for payload in (
        {"location": "ftp://octt:pw@diag.example.com/"},
        {
            "location": "https://diag.example.com/upload",
            "retries": 2,
            "retryInterval": 5,
            "startTime": _at(-3600),
            "stopTime": _at(0),
        },
    ):
        await sent_unchanged(csms, station, "GetDiagnostics", payload)
    # Reservation: connector > 0, connector 0, with parentIdTag, a chosen expiry and id.
    for payload in (
        {"connectorId": 1, "expiryDate": _at(5), "idTag": "NOGROUP", "reservationId": 11},
        {
            "connectorId": 0,
            "expiryDate": _at(600),
            "idTag": "TAG1",
            "parentIdTag": "PARENT",
            "reservationId": 12,
        },
        {
            "connectorId": 2,
            "expiryDate": _at(600),
            "idTag": "OCTT-TAG",
            "parentIdTag": "OTHER",
            "reservationId": 13,
        },
    ):
        await sent_unchanged(csms, station, "ReserveNow", payload)
    # WattHub fills what is left out: a reservationId, and the tag's group.
    response = await csms.command(
        "CP1", "ReserveNow", {"connectorId": 1, "expiryDate": _at(60), "idTag": "TAG1"}
    )
    assert response.status_code == 200, response.text
    filled = station.sent("ReserveNow")[-1]
    assert isinstance(filled["reservationId"], int) and filled["parentIdTag"] == "PARENT"
    # CancelReservation: any id, even one WattHub never sent.
    station.answers["CancelReservation"] = {"status": "Rejected"}
    for rid in (12, 424242):
        answer = await sent_unchanged(csms, station, "CancelReservation", {"reservationId": rid})
        assert answer == {"status": "Rejected"}


async def test_trigger_message_all_values(csms: Csms, station: TestChargePoint) -> None:
    for message in (
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ):
        await sent_unchanged(csms, station, "TriggerMessage", {"requestedMessage": message})
        await sent_unchanged(
            csms, station, "TriggerMessage", {"requestedMessage": message, "connectorId": 1}
        )
    # BootNotification: only before an Accepted boot (errata §3.40); afterwards a readable 409.
    refused = await csms.command("CP1", "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert refused.status_code == 409 and "errata" in refused.json()["detail"]
    await csms.add_station("CPPEND", bootPolicy="Pending")
    pending = await csms.connect("CPPEND", register=False)
    assert (await pending.boot()).status == "Pending"
    for payload in (
        {"requestedMessage": "BootNotification"},
        {"requestedMessage": "BootNotification", "connectorId": 1},
    ):
        await sent_unchanged(csms, pending, "TriggerMessage", payload, "CPPEND")
    # ExtendedTriggerMessage: all seven values, with and without connectorId.
    for message in (
        "BootNotification",
        "LogStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "SignChargePointCertificate",
        "StatusNotification",
    ):
        await sent_unchanged(csms, station, "ExtendedTriggerMessage", {"requestedMessage": message})
        await sent_unchanged(
            csms, station, "ExtendedTriggerMessage", {"requestedMessage": message, "connectorId": 1}
        )


def _profile(pid: int, purpose: str, kind: str, **extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}],
    }
    profile: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": 1,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if kind != "Relative":
        schedule.update(duration=3600, startSchedule=_at(-60))
        profile.update(validFrom=_at(-60), validTo=_at(86400))
    if kind == "Recurring":
        profile["recurrencyKind"] = "Daily"
    profile.update(extra)
    return profile


async def test_smart_charging_operations_free_form(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    for connector, profile in (
        (0, _profile(1, "ChargePointMaxProfile", "Absolute")),
        (0, _profile(2, "ChargePointMaxProfile", "Recurring", stackLevel=2)),
        (0, _profile(3, "TxDefaultProfile", "Recurring")),
        (1, _profile(4, "TxDefaultProfile", "Absolute", stackLevel=2)),
        (1, _profile(5, "TxDefaultProfile", "Relative", stackLevel=3)),
        (1, _profile(6, "TxProfile", "Absolute", transactionId=tx)),
        (1, _profile(7, "TxProfile", "Relative", transactionId=tx, stackLevel=2)),
    ):
        payload = {"connectorId": connector, "csChargingProfiles": profile}
        await sent_unchanged(csms, station, "SetChargingProfile", payload)
    for payload in (
        {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"},
        {"connectorId": 0, "duration": 86400},
    ):
        await sent_unchanged(csms, station, "GetCompositeSchedule", payload)
    station.answers["ClearChargingProfile"] = {"status": "Unknown"}
    for payload in (
        {"id": 999},
        {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2},
        {"chargingProfilePurpose": "ChargePointMaxProfile"},
        {},
    ):
        answer = await sent_unchanged(csms, station, "ClearChargingProfile", payload)
        assert answer == {"status": "Unknown"}


async def test_security_operations_free_form(csms: Csms, station: TestChargePoint) -> None:
    root = pki.create_root_ca("OCTT Root", key_type="ec-p256")
    pem = root.cert_pem
    assert await sent_unchanged(csms, station, "CertificateSigned", {"certificateChain": pem}) == {
        "status": "Accepted"
    }
    # Even a chain WattHub did not issue (TC_077 needs the station to judge it).
    station.answers["CertificateSigned"] = {"status": "Rejected"}
    await sent_unchanged(csms, station, "CertificateSigned", {"certificateChain": "not a PEM"})
    for cert_type in ("CentralSystemRootCertificate", "ManufacturerRootCertificate"):
        await sent_unchanged(
            csms, station, "InstallCertificate", {"certificateType": cert_type, "certificate": pem}
        )
        await sent_unchanged(
            csms, station, "GetInstalledCertificateIds", {"certificateType": cert_type}
        )
    for algorithm in ("SHA256", "SHA384", "SHA512"):
        hash_data = pki.certificate_hash_data(pem, None, algorithm)  # type: ignore[arg-type]
        await sent_unchanged(csms, station, "DeleteCertificate", {"certificateHashData": hash_data})
    for payload in (
        {"logType": "SecurityLog", "requestId": 7, "log": {"remoteLocation": "ftp://l.example/"}},
        {
            "logType": "DiagnosticsLog",
            "requestId": 8,
            "retries": 1,
            "retryInterval": 5,
            "log": {
                "remoteLocation": "https://l.example/up",
                "oldestTimestamp": _at(-3600),
                "latestTimestamp": _at(0),
            },
        },
    ):
        await sent_unchanged(csms, station, "GetLog", payload)
    for signature in ("c2lnbmF0dXJl", "bm90IGEgcmVhbCBzaWduYXR1cmU="):  # valid / invalid ones
        payload = {
            "requestId": 80 if signature == "c2lnbmF0dXJl" else 81,
            "retries": 1,
            "retryInterval": 10,
            "firmware": {
                "location": "https://fw.example/signed.bin",
                "retrieveDateTime": _at(0),
                "installDateTime": _at(60),
                "signingCertificate": pem,
                "signature": signature,
            },
        }
        await sent_unchanged(csms, station, "SignedUpdateFirmware", payload)
    # Omitted requestIds are filled by WattHub, unique per station.
    response = await csms.command(
        "CP1", "GetLog", {"logType": "SecurityLog", "log": {"remoteLocation": "ftp://l/"}}
    )
    assert response.status_code == 200, response.text
    assert station.sent("GetLog")[-1]["requestId"] not in (7, 8)


# -- part 2: station messages answered in every state ---------------------------------------------


async def _ok(cp: TestChargePoint, request: Any) -> Any:
    answer = await cp.call(request)
    assert answer is not None, f"{type(request).__name__} got a CALLERROR"
    assert type(answer).__name__ == type(request).__name__
    return answer


async def test_core_messages_answered_in_every_state(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    await csms.add_tag("BLOCKED", status="Blocked")
    await csms.add_tag("OLD", expiryDate=_at(-86400))
    await _ok(station, call.Heartbeat())
    # StatusNotification: every status and every errorCode, connectorId 0 too.
    for status in (
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEVSE",
        "SuspendedEV",
        "Finishing",
        "Reserved",
        "Unavailable",
        "Faulted",
    ):
        await _ok(station, call.StatusNotification(1, "NoError", status, timestamp=now_ts()))
    for code in (
        "ConnectorLockFailure",
        "EVCommunicationError",
        "GroundFailure",
        "HighTemperature",
        "InternalError",
        "LocalListConflict",
        "OtherError",
        "OverCurrentFailure",
        "OverVoltage",
        "PowerMeterFailure",
        "PowerSwitchFailure",
        "ReaderFailure",
        "ResetFailure",
        "UnderVoltage",
        "WeakSignal",
    ):
        await _ok(station, call.StatusNotification(0, code, "Faulted", info="x", vendor_id="v"))
    await _ok(station, call.StatusNotification(0, "NoError", "Available"))  # no timestamp
    # MeterValues triggered, without a transaction, connector 0 and 1.
    for connector in (0, 1):
        sample = {"value": "42", "context": "Trigger", "measurand": "Energy.Active.Import.Register"}
        await _ok(
            station,
            call.MeterValues(connector, [{"timestamp": now_ts(), "sampledValue": [sample]}]),
        )
    # Authorize / StartTransaction for every kind of tag; a past timestamp; an unknown
    # reservationId. StopTransaction for every reason.
    assert (await _ok(station, call.Authorize("TAG1"))).id_tag_info["status"] == "Accepted"
    reasons = ("EVDisconnected", "Remote", "UnlockCommand", "PowerLoss", "DeAuthorized", "Local")
    for tag, expected in (("TAG1", "Accepted"), ("BLOCKED", "Blocked"), ("OLD", "Expired")):
        auth = await _ok(station, call.Authorize(tag))
        assert auth.id_tag_info["status"] == expected
    starts = []
    for n, (tag, expected) in enumerate(
        (
            ("TAG1", "Accepted"),
            ("NOPE", "Invalid"),
            ("BLOCKED", "Blocked"),
            ("OLD", "Expired"),
            ("TAG1", None),
            ("TAG1", None),
        )
    ):
        extra = {"reservation_id": 999999} if n == 4 else {}
        start = await _ok(station, call.StartTransaction(1, tag, n * 10, _at(-3600 + n), **extra))
        assert isinstance(start.transaction_id, int)
        if expected is not None:
            assert start.id_tag_info["status"] == expected, (tag, start)
        starts.append(start.transaction_id)
    assert len(set(starts)) == len(starts)
    for tx, reason in zip(starts, reasons, strict=True):
        stop = await _ok(
            station, call.StopTransaction(1000, _at(-60), tx, reason=reason, id_tag="TAG1")
        )
        assert stop.id_tag_info["status"] == "Accepted"
    for tx in starts:
        assert (await csms.api.get(f"/transactions/{tx}")).json()["active"] is False
    stopped = {
        t["id"]: t["stopReason"]
        for t in (await csms.api.get("/transactions", params={"stationId": "CP1"})).json()
    }
    assert [stopped[tx] for tx in starts] == list(reasons)
    # StopTransaction without reason/idTag, for -1, for an unknown id, for an already stopped one.
    for tx in (-1, 555555, starts[0]):
        await _ok(station, call.StopTransaction(0, now_ts(), tx))
    # A mid-session reboot, then a StopTransaction for a transaction opened before it.
    late = (await _ok(station, call.StartTransaction(1, "TAG1", 0, now_ts()))).transaction_id
    assert (await _ok(station, call.BootNotification("OCTT", "Virtual"))).status == "Accepted"
    await _ok(station, call.StopTransaction(10, now_ts(), late, reason="PowerLoss"))
    assert (await csms.api.get(f"/transactions/{late}")).json()["stopReason"] == "PowerLoss"
    # DataTransfer from the station.
    data = await _ok(station, call.DataTransfer("com.octt.unknown", "m", "d"))
    assert data.status == "UnknownVendorId"
    # Nothing of this made WattHub send anything.
    assert station.received == []


async def test_firmware_and_security_messages_answered(
    csms: Csms, station: TestChargePoint
) -> None:
    for status in ("Idle", "Uploading", "Uploaded", "UploadFailed"):
        await _ok(station, call.DiagnosticsStatusNotification(status))
        shown = (await csms.api.get("/stations/CP1/diagnostics")).json()
        assert shown["current"]["status"] == status
    for status in (
        "Idle",
        "Downloading",
        "Downloaded",
        "DownloadFailed",
        "Installing",
        "Installed",
        "InstallationFailed",
    ):
        await _ok(station, call.FirmwareStatusNotification(status))
        shown = (await csms.api.get("/stations/CP1/firmware")).json()
        assert shown["current"]["status"] == status
    # SignCertificate: no CA configured in this hub → Rejected is the right answer (A02.FR.12).
    key_pem, _ = _csr()
    sign = await _ok(station, call.SignCertificate(csr=key_pem))
    assert sign.status in ("Accepted", "Rejected")
    for event in ("FirmwareUpdated", "InvalidCentralSystemCertificate", "AcmeVendorEvent"):
        await _ok(
            station, call.SecurityEventNotification(type=event, timestamp=now_ts(), tech_info="t")
        )
    events = (await csms.api.get("/stations/CP1/security-events")).json()
    assert {"FirmwareUpdated", "InvalidCentralSystemCertificate", "AcmeVendorEvent"} <= {
        e["type"] for e in events
    }
    # LogStatusNotification: every status, for a known and an unknown requestId.
    response = await csms.command(
        "CP1",
        "GetLog",
        {"logType": "SecurityLog", "requestId": 3, "log": {"remoteLocation": "ftp://l/"}},
    )
    assert response.status_code == 200, response.text
    for status in (
        "BadMessage",
        "Idle",
        "NotSupportedOperation",
        "PermissionDenied",
        "Uploading",
        "UploadFailure",
        "Uploaded",
    ):
        await _ok(station, call.LogStatusNotification(status=status, request_id=3))
    await _ok(station, call.LogStatusNotification(status="Uploaded", request_id=4242))
    await _ok(station, call.LogStatusNotification(status="Idle", request_id=None))
    requests = (await csms.api.get("/stations/CP1/log-requests")).json()
    assert next(r for r in requests if r["requestId"] == 3)["status"] == "Uploaded"
    # SignedFirmwareStatusNotification: all 14 statuses.
    for status in (
        "Downloaded",
        "DownloadFailed",
        "Downloading",
        "DownloadScheduled",
        "DownloadPaused",
        "Idle",
        "InstallationFailed",
        "Installing",
        "Installed",
        "InstallRebooting",
        "InstallScheduled",
        "InstallVerificationFailed",
        "InvalidSignature",
        "SignatureVerified",
    ):
        answer = await _ok(
            station, call.SignedFirmwareStatusNotification(status=status, request_id=1)
        )
        assert isinstance(answer, call_result.SignedFirmwareStatusNotification)
    assert [action for action, _ in station.received] == ["GetLog"]  # only what we asked


async def test_messages_answered_while_pending(csms: Csms) -> None:
    """A Pending station may still get answers for what it sends when triggered."""
    await csms.add_station("CPP", bootPolicy="Pending")
    cp = await csms.connect("CPP", register=False)
    assert (await cp.boot()).status == "Pending"
    await _ok(cp, call.Heartbeat())
    await _ok(cp, call.StatusNotification(0, "NoError", "Available"))
    await _ok(cp, call.DiagnosticsStatusNotification("Idle"))
    await _ok(cp, call.FirmwareStatusNotification("Idle"))
    shown = await eventually(
        lambda: csms.api.get("/stations/CPP"), lambda r: r.json()["connected"] is True
    )
    assert shown.json()["registrationStatus"] == "Pending"


def _csr() -> tuple[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from watthub.security.keys import generate_private_key

    key = generate_private_key("rsa-2048")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SN-1")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key
