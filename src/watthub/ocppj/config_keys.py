"""OCPP 1.6 configuration keys are CiString50: case-insensitive. Every guard, redaction and
bookkeeping step that looks at a key compares it through :func:`same_key`, so ``securityprofile``
or `` AuthorizationKey `` cannot slip past a check written for the canonical spelling."""

from __future__ import annotations

AUTHORIZATION_KEY = "AuthorizationKey"
SECURITY_PROFILE = "SecurityProfile"
CHARGE_PROFILE_MAX_STACK_LEVEL = "ChargeProfileMaxStackLevel"

# Keys whose spelling WattHub rewrites to the canonical one before sending, so that what the
# after-hooks see and store is the key the guards checked.
GUARDED = (AUTHORIZATION_KEY, SECURITY_PROFILE)


def same_key(key: object, name: str) -> bool:
    return isinstance(key, str) and key.strip().casefold() == name.casefold()


def canonical(key: object) -> object:
    """The canonical spelling of a guarded key, else ``key`` unchanged."""
    for name in GUARDED:
        if same_key(key, name):
            return name
    return key
