"""Pre-built OCPP 1.6J frames for the load generator.

Every frame the generator sends is rendered from a byte template: the JSON is serialised once with
orjson, with placeholder strings where the per-message values go (message id, transaction id,
timestamp, meter reading ...). Rendering is a ``bytes.join`` of the constant parts and the
substituted values, so a 1.2 KB MeterValues frame costs about a microsecond to build and nothing is
validated on the generator side.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

__all__ = [
    "CHARGE_POINT_ANSWERS",
    "MIX_CYCLE",
    "Template",
    "Timestamp",
    "check_answer",
    "id_tag_for",
    "station_id",
    "unknown_tag_for",
]


def station_id(index: int) -> str:
    """Station ids are the same for every target and scenario: BENCH000000, BENCH000001, ..."""
    return f"BENCH{index:06d}"


#: Number of distinct id tags every target knows (WattHub imports them before the run). Each
#: station uses its own slice of them in turn, so most sessions present a tag the server has not
#: seen recently (an id-tag cache cannot hold everything) and two stations never share a tag (no
#: legitimate ``ConcurrentTx``).
ID_TAG_COUNT = 100_000


def id_tag_for(index: int) -> str:
    return f"BT{index % ID_TAG_COUNT:06d}"


def unknown_tag_for(index: int) -> str:
    """A tag no target knows: a correct CSMS answers ``Invalid``."""
    return f"BX{index % ID_TAG_COUNT:06d}"


class Template:
    """A JSON frame with named holes.

    ``Template([2, "$mid", "Heartbeat", {}])`` serialises the object once; every string value of the
    form ``"$name"`` becomes a hole. ``render(mid=b'"17"')`` fills the holes with raw JSON bytes
    (quote string values yourself, or use :meth:`q`).
    """

    __slots__ = ("_names", "_parts")

    def __init__(self, obj: Any) -> None:
        raw = orjson.dumps(obj)
        parts: list[bytes] = []
        names: list[str] = []
        pos = 0
        while True:
            start = raw.find(b'"$', pos)
            if start < 0:
                break
            end = raw.index(b'"', start + 2)
            parts.append(raw[pos:start])
            names.append(raw[start + 2 : end].decode())
            pos = end + 1
        parts.append(raw[pos:])
        self._parts = parts
        self._names = names

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def render(self, **values: bytes) -> bytes:
        parts = self._parts
        out = [parts[0]]
        for i, name in enumerate(self._names):
            out.append(values[name])
            out.append(parts[i + 1])
        return b"".join(out)

    @staticmethod
    def q(value: str) -> bytes:
        """Quote a plain (escape-free) string as a JSON string."""
        return b'"' + value.encode() + b'"'


class Timestamp:
    """ISO-8601 UTC timestamp as quoted JSON bytes, recomputed at most once per second."""

    __slots__ = ("_sec", "_value")

    def __init__(self) -> None:
        self._sec = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._value = (
                b'"' + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)).encode() + b'"'
            )
        return self._value


BOOT = Template(
    [
        2,
        "$mid",
        "BootNotification",
        {
            "chargePointVendor": "WattHubBench",
            "chargePointModel": "LoadGen-2C",
            "chargePointSerialNumber": "$serial",
            "firmwareVersion": "1.0.0",
        },
    ]
)
HEARTBEAT = Template([2, "$mid", "Heartbeat", {}])
STATUS = Template(
    [
        2,
        "$mid",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "$status", "timestamp": "$ts"},
    ]
)
AUTHORIZE = Template([2, "$mid", "Authorize", {"idTag": "$tag"}])
START = Template(
    [
        2,
        "$mid",
        "StartTransaction",
        {"connectorId": 1, "idTag": "$tag", "meterStart": "$meter", "timestamp": "$ts"},
    ]
)
STOP = Template(
    [
        2,
        "$mid",
        "StopTransaction",
        {
            "transactionId": "$tx",
            "idTag": "$tag",
            "meterStop": "$meter",
            "timestamp": "$ts",
            "reason": "Local",
        },
    ]
)


def _sv(value: str, measurand: str, unit: str, phase: str | None = None) -> dict[str, str]:
    sv = {
        "value": value,
        "context": "Sample.Periodic",
        "format": "Raw",
        "measurand": measurand,
        "location": "Outlet",
        "unit": unit,
    }
    if phase:
        sv["phase"] = phase
    return sv


#: MeterValues with 9 sampled values; the energy register and the timestamp change per message.
METER_VALUES = Template(
    [
        2,
        "$mid",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": "$tx",
            "meterValue": [
                {
                    "timestamp": "$ts",
                    "sampledValue": [
                        _sv("$energy", "Energy.Active.Import.Register", "Wh"),
                        _sv("7360.0", "Power.Active.Import", "W"),
                        _sv("10.7", "Current.Import", "A", "L1"),
                        _sv("10.6", "Current.Import", "A", "L2"),
                        _sv("10.7", "Current.Import", "A", "L3"),
                        _sv("229.8", "Voltage", "V", "L1-N"),
                        _sv("230.4", "Voltage", "V", "L2-N"),
                        _sv("230.1", "Voltage", "V", "L3-N"),
                        {
                            "value": "57",
                            "context": "Sample.Periodic",
                            "measurand": "SoC",
                            "location": "EV",
                            "unit": "Percent",
                        },
                    ],
                }
            ],
        },
    ]
)

#: One charging session of one station; ``MeterValues`` is repeated ``meter_per_tx`` times.
MIX_CYCLE = (
    ("StatusNotification", "Preparing"),
    ("Authorize", None),
    ("StartTransaction", None),
    ("StatusNotification", "Charging"),
    ("MeterValues", None),
    ("StopTransaction", None),
    ("StatusNotification", "Available"),
    ("Heartbeat", None),
)

#: Minimal CALLRESULT payloads for CALLs the server sends to a station (anything else gets ``{}``).
CHARGE_POINT_ANSWERS: dict[str, bytes] = {
    "GetConfiguration": b'{"configurationKey":[],"unknownKey":[]}',
    "ChangeConfiguration": b'{"status":"Accepted"}',
    "ChangeAvailability": b'{"status":"Accepted"}',
    "ClearCache": b'{"status":"Accepted"}',
    "DataTransfer": b'{"status":"Accepted"}',
    "RemoteStartTransaction": b'{"status":"Accepted"}',
    "RemoteStopTransaction": b'{"status":"Accepted"}',
    "Reset": b'{"status":"Accepted"}',
    "TriggerMessage": b'{"status":"Accepted"}',
    "UnlockConnector": b'{"status":"Unlocked"}',
    "GetLocalListVersion": b'{"listVersion":0}',
    "SendLocalList": b'{"status":"Accepted"}',
    "ReserveNow": b'{"status":"Accepted"}',
    "CancelReservation": b'{"status":"Accepted"}',
    "SetChargingProfile": b'{"status":"Accepted"}',
    "ClearChargingProfile": b'{"status":"Accepted"}',
    "GetCompositeSchedule": b'{"status":"Rejected"}',
    "GetDiagnostics": b"{}",
    "UpdateFirmware": b"{}",
}


def _tag_status(payload: Any) -> Any:
    info = payload.get("idTagInfo")
    return info.get("status") if isinstance(info, dict) else None


def check_answer(action: str, payload: Any, expect_tag: str = "Accepted") -> bool:
    """Is ``payload`` what a correct OCPP 1.6 CSMS must answer to the generator's CALL?

    ``expect_tag`` is the idTagInfo status the presented tag must get (``Accepted`` for an
    imported tag, ``Invalid`` for one no target knows). A wrong answer counts as an error.
    """
    if not isinstance(payload, dict):
        return False
    if action in ("StatusNotification", "MeterValues"):
        return not payload
    if action == "Heartbeat":
        return isinstance(payload.get("currentTime"), str)
    if action == "BootNotification":
        return (
            payload.get("status") in ("Accepted", "Pending")
            and isinstance(payload.get("interval"), int)
            and isinstance(payload.get("currentTime"), str)
        )
    if action == "Authorize":
        return _tag_status(payload) == expect_tag
    if action == "StartTransaction":
        tx = payload.get("transactionId")
        return (
            isinstance(tx, int)
            and not isinstance(tx, bool)
            and tx > 0
            and _tag_status(payload) == expect_tag
        )
    if action == "StopTransaction":
        # idTagInfo is optional in the answer; when present, the (known) tag must be Accepted.
        return "idTagInfo" not in payload or _tag_status(payload) == expect_tag
    return True
