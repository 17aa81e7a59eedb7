"""Tests for watthub.security.passwords."""

from __future__ import annotations

import base64
import string
import time

import pytest

from watthub.security import passwords as pw

OCTT_PLAIN = "OCA_OCTT_admin_test"
OCTT_HEX = "4F43415F4F4354545F61646D696E5F74657374"  # SteVe's copy of the OCTT vector


def basic(user: str | bytes, password: str | bytes) -> str:
    raw = (user if isinstance(user, bytes) else user.encode()) + b":"
    raw += password if isinstance(password, bytes) else password.encode()
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize("num_bytes", [16, 18, 20])
def test_generate_authorization_key(num_bytes: int) -> None:
    key = pw.generate_authorization_key(num_bytes)
    assert len(key) == 2 * num_bytes <= 40
    assert all(c in string.hexdigits for c in key) and key == key.upper()
    raw = pw.decode_authorization_key(key)
    assert len(raw) == num_bytes
    assert all(chr(b) in string.ascii_letters + string.digits for b in raw)


def test_generated_keys_are_random() -> None:
    keys = {pw.generate_authorization_key() for _ in range(50)}
    assert len(keys) == 50


@pytest.mark.parametrize("num_bytes", [0, 15, 21, 32])
def test_generate_authorization_key_length_limits(num_bytes: int) -> None:
    with pytest.raises(ValueError, match="16-20"):
        pw.generate_authorization_key(num_bytes)


def test_decode_authorization_key_rules() -> None:
    assert pw.decode_authorization_key(OCTT_HEX) == OCTT_PLAIN.encode()
    assert pw.decode_authorization_key(OCTT_HEX.lower()) == OCTT_PLAIN.encode()
    # 16-20 characters: the value is the plaintext password (TC_085 note).
    assert pw.decode_authorization_key(OCTT_PLAIN) == OCTT_PLAIN.encode()
    assert pw.decode_authorization_key("0123456789abcdef") == b"0123456789abcdef"
    for bad in ("short", "x" * 25, "Z" * 40, "A" * 41):
        with pytest.raises(ValueError):
            pw.decode_authorization_key(bad)


def test_hash_round_trip_and_wrong_password() -> None:
    key = pw.generate_authorization_key()
    raw = pw.decode_authorization_key(key)
    stored = pw.hash_password(raw)
    assert stored.startswith("scrypt$16384$8$1$")
    assert raw.decode() not in stored and key not in stored
    assert pw.verify_password(raw, stored)
    assert pw.verify_password(raw.decode(), stored)
    assert not pw.verify_password(raw[:-1], stored)
    assert not pw.verify_password(raw + b"x", stored)
    assert not pw.verify_password(b"", stored)
    # Same password, different salt -> different hash; both verify.
    stored2 = pw.hash_password(raw)
    assert stored2 != stored and pw.verify_password(raw, stored2)
    assert not pw.needs_rehash(stored)
    assert pw.needs_rehash("scrypt$1024$8$1$AAAA$AAAA")


def test_verify_rejects_malformed_hashes() -> None:
    for bad in (
        "",
        "plain",
        "bcrypt$1$2$3$4$5",
        "scrypt$x$8$1$AA==$AA==",
        "scrypt$16384$8$1$!!$??",
    ):
        assert not pw.verify_password("whatever-password", bad)


def test_verify_station_password_accepts_raw_or_hex() -> None:
    stored = pw.hash_password(pw.decode_authorization_key(OCTT_HEX))
    assert pw.verify_station_password(OCTT_PLAIN, stored)  # station decoded the hex
    assert pw.verify_station_password(OCTT_HEX, stored)  # station sent the hex itself
    assert pw.verify_station_password(OCTT_HEX.lower(), stored)
    assert not pw.verify_station_password("OCA_OCTT_admin_tesX", stored)
    assert not pw.verify_station_password(OCTT_HEX[:-2] + "00", stored)
    assert not pw.verify_station_password("G" * 38, stored)


def test_parse_basic_auth() -> None:
    assert pw.parse_basic_auth(basic("CP-1", OCTT_PLAIN)) == ("CP-1", OCTT_PLAIN)
    assert pw.parse_basic_auth("basic " + basic("CP-1", "a:b:c")[6:]) == ("CP-1", "a:b:c")
    assert pw.parse_basic_auth(basic("CP-1", "")) == ("CP-1", "")
    for bad in (
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":pw-without-user").decode(),
    ):
        assert pw.parse_basic_auth(bad) is None, bad


def test_parse_basic_auth_end_to_end_with_binary_password() -> None:
    # A station that decodes a hex key of random bytes sends non-UTF-8 bytes; they must survive.
    raw = bytes(range(0xE0, 0xF4))  # 20 bytes, invalid UTF-8
    stored = pw.hash_password(raw)
    parsed = pw.parse_basic_auth(basic("CP-9", raw))
    assert parsed is not None and parsed[0] == "CP-9"
    assert pw.verify_station_password(parsed[1], stored)
    assert pw.verify_station_password(raw.hex(), stored)


def test_verification_cost_is_bounded() -> None:
    stored = pw.hash_password("0123456789abcdef")
    start = time.perf_counter()
    assert pw.verify_password("0123456789abcdef", stored)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"verification took {elapsed:.3f}s"
