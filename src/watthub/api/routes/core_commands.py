"""Typed endpoints for the Core profile's CSMS → station commands."""

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from watthub.api.deps import require_token
from watthub.api.present import ApiModel
from watthub.api.typed import command_endpoint

router = APIRouter(tags=["core commands"], dependencies=[Depends(require_token)])


class ChangeAvailability(ApiModel):
    connectorId: int = Field(0, ge=0, description="0 = the whole station")
    type: Literal["Inoperative", "Operative"]


class ChangeConfiguration(ApiModel):
    # Any key and any value: the operator may send a non-standard key or a bad value on purpose.
    key: str = Field(max_length=50)
    value: str = Field(max_length=500)


class Empty(ApiModel):
    pass


class DataTransfer(ApiModel):
    vendorId: str = Field(max_length=255)
    messageId: str | None = Field(None, max_length=50)
    data: str | None = None


class GetConfiguration(ApiModel):
    key: list[str] | None = Field(None, description="Omit (or []) for all keys")


class RemoteStartTransaction(ApiModel):
    idTag: str = Field(max_length=20)
    connectorId: int | None = Field(None, gt=0, description="> 0 (OCPP 1.6 §5.11)")
    chargingProfile: dict[str, Any] | None = Field(
        None, description="A TxProfile without transactionId"
    )


class RemoteStopTransaction(ApiModel):
    transactionId: int = Field(description="Any id, even one WattHub does not know")


class Reset(ApiModel):
    type: Literal["Hard", "Soft"]


class UnlockConnector(ApiModel):
    connectorId: int = Field(gt=0)


for path, action, model, summary in [
    ("change-availability", "ChangeAvailability", ChangeAvailability, "Make it (in)operative"),
    ("change-configuration", "ChangeConfiguration", ChangeConfiguration, "Set a configuration key"),
    ("clear-cache", "ClearCache", Empty, "Clear its authorization cache"),
    ("data-transfer", "DataTransfer", DataTransfer, "Vendor-specific data transfer"),
    ("get-configuration", "GetConfiguration", GetConfiguration, "Read (and store) configuration"),
    ("remote-start", "RemoteStartTransaction", RemoteStartTransaction, "Start a transaction"),
    ("remote-stop", "RemoteStopTransaction", RemoteStopTransaction, "Stop a transaction"),
    ("reset", "Reset", Reset, "Reboot (Hard or Soft)"),
    ("unlock-connector", "UnlockConnector", UnlockConnector, "Unlock a connector"),
]:
    command_endpoint(router, path, action, model, summary)
