"""Security profile 1/2 credentials: the AuthorizationKey and HTTP Basic authentication.

How the station uses the key (whitepaper A00.FR.201-206, OCPP-J §6.2.2, OCTT TC_073/TC_085):
the CSMS sets it with ChangeConfiguration(AuthorizationKey=<hex>), where <hex> is the
hex encoding (<= 40 hex digits) of a 16-20 byte password. The station decodes the hex and puts
the *raw* password in ``Authorization: Basic base64(<ChargePointId>:<password>)``. Some
stations send the hex string itself instead; :func:`verify_station_password` accepts both.

Because raw password bytes travel inside an HTTP header, :func:`generate_authorization_key`
draws the bytes from printable ASCII (letters and digits), so stations that handle the
password as a string do not choke on NUL/control/non-UTF-8 bytes. 20 such characters still
carry ~119 bits of entropy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string

MIN_PASSWORD_BYTES = 16
MAX_PASSWORD_BYTES = 20
_ALPHABET = string.ascii_letters + string.digits

# scrypt parameters: N=2**14, r=8, p=1 uses 16 MiB per verification. Measured cost on the
# 2-core development VM (Python 3.11.7, OpenSSL 3.0): median 48 ms, range 36-77 ms over 20
# runs. A failed check of a hex-looking password costs two rounds (~75 ms, see
# verify_station_password). That is paid once per WebSocket connection attempt. hashlib.scrypt
# releases the GIL (two threads ran 20 checks in 0.43 s vs 0.75 s sequentially), so call it via
# asyncio.to_thread when thousands of stations reconnect at once. The parameters are stored in
# each hash, so they can be raised later (see needs_rehash).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024
_SCHEME = "scrypt"


def generate_authorization_key(num_bytes: int = MAX_PASSWORD_BYTES) -> str:
    """A new AuthorizationKey value: hex (uppercase) of ``num_bytes`` random printable bytes.

    Send this string in ChangeConfiguration(AuthorizationKey); store only
    ``hash_password(decode_authorization_key(key))``.
    """
    if not MIN_PASSWORD_BYTES <= num_bytes <= MAX_PASSWORD_BYTES:
        raise ValueError(f"password length must be {MIN_PASSWORD_BYTES}-{MAX_PASSWORD_BYTES} bytes")
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(num_bytes))
    return raw.encode("ascii").hex().upper()


def decode_authorization_key(value: str) -> bytes:
    """The Basic-auth password a station derives from an AuthorizationKey value.

    TC_085 rule: 32-40 hex digits are hex-decoded; a 16-20 character value is the plaintext
    password itself (operator-entered keys, some test tools).
    """
    if 32 <= len(value) <= 40 and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    if MIN_PASSWORD_BYTES <= len(value.encode()) <= MAX_PASSWORD_BYTES:
        return value.encode()
    raise ValueError(
        "AuthorizationKey must be 32-40 hex digits or a 16-20 character plaintext password"
    )


def station_password(value: str) -> bytes:
    """The Basic-auth password an operator-entered station password stands for.

    Same TC_085 rule as :func:`decode_authorization_key`: 32-40 hex digits are the hex form of
    the password (what the OCTT and ``generate_authorization_key`` produce; the station decodes
    it and sends the raw bytes), anything else is the password itself. Hash this, not the raw
    input: :func:`verify_station_password` then accepts the decoded and the hex form alike."""
    if 32 <= len(value) <= 40 and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    return value.encode("utf-8")


def _to_bytes(password: bytes | str) -> bytes:
    # surrogateescape round-trips header bytes that were not valid UTF-8 (see parse_basic_auth).
    return password if isinstance(password, bytes) else password.encode("utf-8", "surrogateescape")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_DKLEN)


def hash_password(password: bytes | str) -> str:
    """Salted scrypt hash (A01.FR.08), encoded as ``scrypt$N$r$p$salt_b64$hash_b64``."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(_to_bytes(password), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return (
        f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$"
        f"{b64(salt).decode('ascii')}${b64(digest).decode('ascii')}"
    )


def verify_password(password: bytes | str, stored_hash: str) -> bool:
    """Constant-time check of ``password`` against :func:`hash_password` output."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored_hash.split("$")
        if scheme != _SCHEME:
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        actual = _scrypt(_to_bytes(password), salt, int(n), int(r), int(p))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def verify_station_password(presented: bytes | str, stored_hash: str) -> bool:
    """Verify a Basic-auth password; accepts the raw password or its hex encoding.

    Stations disagree on whether the AuthorizationKey is sent decoded or as the hex string
    itself; accepting both forms does not weaken anything, as both require the secret. The
    second scrypt round only runs for hex-looking inputs that failed the first check.
    """
    if verify_password(presented, stored_hash):
        return True
    text = presented.decode("ascii", "replace") if isinstance(presented, bytes) else presented
    if 32 <= len(text) <= 40 and len(text) % 2 == 0:
        try:
            decoded = bytes.fromhex(text)
        except ValueError:
            return False
        return verify_password(decoded, stored_hash)
    return False


def needs_rehash(stored_hash: str) -> bool:
    """True if ``stored_hash`` uses weaker parameters than the current defaults."""
    try:
        scheme, n, r, p, *_ = stored_hash.split("$")
        return scheme != _SCHEME or (int(n), int(r), int(p)) < (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


def parse_basic_auth(header_value: str | None) -> tuple[str, str] | None:
    """Parse ``Authorization: Basic <base64(user:password)>``; ``None`` if absent/malformed.

    The password is split at the *first* colon (RFC 7617: user-ids cannot contain ':',
    passwords can). Bytes that are not UTF-8 are kept via ``surrogateescape`` so that
    :func:`verify_password` sees exactly the bytes the station sent.
    """
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (ValueError, binascii.Error):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep or not user:
        return None
    return (
        user.decode("utf-8", "surrogateescape"),
        password.decode("utf-8", "surrogateescape"),
    )


__all__ = [
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_BYTES",
    "decode_authorization_key",
    "generate_authorization_key",
    "hash_password",
    "needs_rehash",
    "parse_basic_auth",
    "verify_password",
    "verify_station_password",
]
