"""Settings from environment variables (``WATTHUB_*``) and an optional TOML file.

Precedence: explicit arguments > environment > TOML file (``WATTHUB_CONFIG`` or ``--config``) >
defaults. The defaults run out of the box on an embedded SQLite database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

BootPolicy = Literal["Accepted", "Pending", "Rejected"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WATTHUB_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./data/watthub.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    auto_migrate: bool = Field(False, description="Run database migrations at start-up")
    data_dir: Path = Field(Path("./data"), description="Uploaded files (firmware, diagnostics)")

    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000
    ocpp_path: str = "/ocpp"
    public_host: str = Field("", description="Host name stations and browsers use; default host")

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    auto_register: bool = Field(False, description="Create unknown stations on first connection")
    auto_register_policy: BootPolicy = "Accepted"
    default_heartbeat_interval: int = 300

    call_timeout: float = Field(30.0, description="Seconds to wait for a station's answer")
    ping_interval: float | None = Field(120.0, description="Our WebSocket ping interval; 0 = off")
    ping_timeout: float | None = 60.0
    max_frame_size: int = 1024 * 1024
    max_inbound_queue: int = Field(16, description="Queued CALLs per station before disconnect")

    message_log: bool = True
    message_log_retention_days: int = 30

    write_batch_max: int = 512
    log_level: str = "INFO"
    log_json: bool = False

    def public_name(self) -> str:
        return self.public_host or self.ocpp_host

    def ocpp_url(self) -> str:
        return (
            f"ws://{self.public_name()}:{self.ocpp_port}{self.ocpp_path.rstrip('/')}/{{stationId}}"
        )

    def api_url(self) -> str:
        host = self.public_host or self.api_host
        return f"http://{host}:{self.api_port}/api/v1"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("WATTHUB_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    if config_file:
        os.environ["WATTHUB_CONFIG"] = config_file
    return Settings(**overrides)
