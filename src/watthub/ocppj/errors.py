"""OCPP-J 1.6 CALLERROR codes (OCPP-J §4.2.3, Table 7), with the 1.6 spelling kept by the errata:
``FormationViolation`` and ``OccurenceConstraintViolation`` (one "r")."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class OcppError(Exception):
    """An error answered to the peer as a CALLERROR."""

    def __init__(
        self, code: ErrorCode, description: str = "", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}
