"""Private/public key helpers shared by the PKI, TLS and firmware-signing modules."""

from __future__ import annotations

from typing import Literal, TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

# The key types WattHub generates itself. RSA-4096 / EC P-384 are meant for CAs, RSA-2048 /
# EC P-256 for leaf certificates (every OCPP station must at least handle these).
KeyType: TypeAlias = Literal["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"]
KEY_TYPES: tuple[KeyType, ...] = ("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384")

# Whitepaper A00.FR.501-503: RSA/DSA keys >= 2048 bits, EC keys >= 224 bits.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224

_CURVES: dict[str, ec.EllipticCurve] = {"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1()}


def generate_private_key(key_type: KeyType = "ec-p256") -> PrivateKey:
    """Generate a fresh private key of one of :data:`KEY_TYPES`."""
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type])
    if key_type.startswith("rsa-"):
        bits = int(key_type.removeprefix("rsa-"))
        if key_type in KEY_TYPES:
            return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    raise ValueError(f"unsupported key type {key_type!r}; expected one of {KEY_TYPES}")


def _password_bytes(password: bytes | str | None) -> bytes | None:
    if password is None or isinstance(password, bytes):
        return password
    return password.encode()


def private_key_to_pem(key: PrivateKey, password: bytes | str | None = None) -> str:
    """PKCS#8 PEM, encrypted with the best available algorithm when a password is given."""
    pw = _password_bytes(password)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode("ascii")


def load_private_key(pem: bytes | str, password: bytes | str | None = None) -> PrivateKey:
    """Load a PEM private key (PKCS#1, SEC1 or PKCS#8); only RSA and EC keys are accepted."""
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_private_key(data, password=_password_bytes(password))
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def describe_key(key: PrivateKey | PublicKey | object) -> str:
    """Short human-readable description such as ``RSA-2048`` or ``EC-secp256r1``."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}"
    return type(key).__name__


def key_strength_problem(key: object) -> str | None:
    """Return why ``key`` is too weak / unsupported for OCPP, or ``None`` if it is acceptable."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            return f"RSA key of {key.key_size} bits is shorter than {MIN_RSA_BITS} bits"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if key.curve.key_size < MIN_EC_BITS:
            return f"EC key of {key.curve.key_size} bits is shorter than {MIN_EC_BITS} bits"
        return None
    return f"unsupported key type {describe_key(key)} (only RSA and EC are allowed)"


def public_keys_equal(a: PublicKey | object, b: PublicKey | object) -> bool:
    """Compare two public keys by their DER SubjectPublicKeyInfo."""

    def der(k: object) -> bytes:
        if not isinstance(k, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise TypeError(f"unsupported public key {type(k).__name__}")
        return k.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return der(a) == der(b)
