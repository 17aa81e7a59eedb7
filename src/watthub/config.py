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
    sqlite_synchronous: str = Field(
        "FULL",
        description="SQLite durability: FULL (fsync per commit, survives power loss) or NORMAL",
    )
    auto_migrate: bool = Field(False, description="Run database migrations at start-up")
    db_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to open a database connection (or get one from the pool)"
    )
    db_statement_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds one database statement may take (PostgreSQL: client and server "
        "side; SQLite: the wait for another connection's write lock)",
    )
    db_write_timeout: float = Field(
        15.0,
        gt=0,
        description="Seconds a station message waits for its write before it is answered "
        "InternalError (the charger retries); keep it below the chargers' 30 s timeout",
    )
    db_commit_interval: float = Field(
        0.005,
        ge=0,
        le=0.1,
        description="Least seconds between the starts of two commits while several stations "
        "write at once (group commit): adds at most this to a message's answer, saves most of "
        "the fsyncs and page writes at load; a lone write never waits (0 = no gathering)",
    )
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
    ws_open_timeout: float = Field(
        60.0,
        description="Seconds a station may take from TCP connect to the end of the WebSocket "
        "handshake (the library default of 10 s cut stations off in storms)",
    )
    station_cache_ttl: float = Field(
        60.0,
        description="Seconds a station row stays cached for handshakes; changes through WattHub "
        "invalidate at once, direct database changes (CLI) take effect within this time",
    )
    boot_admission_lag: float = Field(
        3.0,
        description="Answer BootNotification Pending (short interval) while queued writes wait "
        "longer than this many seconds for their commit; 0 = never",
    )
    boot_admission_interval: int = Field(
        5, description="Interval (s, jittered up to 2x) of an admission-control Pending"
    )
    password_checks_waiting: int = Field(
        64, description="Password (scrypt) checks that may queue before handshakes get 503"
    )
    wrong_password_free: int = Field(
        5, description="Wrong passwords for one station before its back-off starts"
    )
    wrong_password_free_per_address: int = Field(
        50,
        description="Wrong passwords from one address (many stations may share a NAT address) "
        "before that address is backed off",
    )
    wrong_password_max_backoff: float = Field(
        300.0, description="Longest wrong-password block (s); doubles per failure up to this"
    )
    gc_threshold: int = Field(
        20_000,
        description="Generation-0 threshold of Python's garbage collector (0 = Python default "
        "700); start-up objects are frozen out of collections either way",
    )
    max_frame_size: int = 1024 * 1024
    max_inbound_queue: int = Field(16, description="Queued CALLs per station before disconnect")

    # Security (OCPP 1.6 Security Whitepaper ed.3, see docs/security.md)
    plain_listener: bool = Field(True, description="Listen on ws:// (profiles 0/1); off = TLS only")
    tls_port: int | None = Field(None, description="wss:// port for profiles 2/3; None = no TLS")
    tls_host: str = Field("", description="TLS listen address; default ocpp_host")
    tls_cert_file: Path | None = Field(None, description="RSA server certificate chain (PEM)")
    tls_key_file: Path | None = None
    tls_ecdsa_cert_file: Path | None = Field(None, description="Optional ECDSA certificate")
    tls_ecdsa_key_file: Path | None = None
    tls_client_ca_file: Path | None = Field(
        None, description="CA bundle that station certificates chain to (profile 3)"
    )
    tls_client_cn_check: Literal["serial", "station_id", "off"] = Field(
        "serial", description="Profile 3: client certificate CN must equal this (off = OCTT)"
    )
    tls_client_cpo_check: bool = Field(False, description="Profile 3: certificate O = cpo_name")
    cpo_name: str | None = None
    csr_cn_source: Literal["serial", "station_id"] = Field(
        "serial", description="CN of signed station certificates (serial from BootNotification)"
    )
    csr_cn_check: Literal["override", "reject", "ignore"] = "override"
    external_ca_command: str | None = Field(
        None, description="Shell command that signs a station CSR (stdin) instead of our CA"
    )
    station_cert_validity_days: int = 365
    cert_expiry_warning_days: int = 30

    # Operator accounts and API access (docs/security.md, "Operator accounts").
    initial_admin: bool = Field(
        True, description="On first start with no account, create 'admin' and print its password"
    )
    session_idle_timeout: float = Field(
        2 * 3600.0, description="Seconds without a request after which a console session ends"
    )
    session_max_age: float = Field(
        24 * 3600.0, description="Seconds after login after which a console session ends anyway"
    )
    session_cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure flag of the session cookie; auto = when served over https"
    )
    login_max_failures: int = Field(
        5, description="Wrong passwords per user name within login_failure_window before 429"
    )
    login_max_failures_per_address: int = Field(
        20, description="Wrong passwords per client address within login_failure_window"
    )
    login_failure_window: float = Field(300.0, description="Seconds a failed login counts")
    auth_cache_seconds: float = Field(
        10.0, description="Seconds a verified token/session is cached (changes invalidate it)"
    )
    api_max_body_bytes: int = Field(
        1024 * 1024, description="Largest request body of the API except file uploads (413)"
    )

    message_log: bool = True
    message_log_retention_days: int = 30

    smart_charging_voltage: float = Field(
        230.0, description="Phase voltage (V) used to convert A <-> W in composite schedules"
    )

    site_resend_on_reconnect: bool = Field(
        True,
        description="Re-send a site station's allocation TxProfiles when it reconnects or boots",
    )

    write_batch_max: int = 512
    tag_cache_ttl: float = Field(
        30.0, description="Seconds an id tag stays cached for authorization; 0 = no cache"
    )

    # Firmware Management file hosting (docs/firmware.md).
    files_base_url: str = Field(
        "",
        description="Base URL stations use for /files/... (firmware downloads, diagnostics "
        "uploads); default http://{public_host or api_host}:{api_port}",
    )
    max_upload_bytes: int = Field(1024**3, description="Largest firmware/diagnostics upload")
    upload_location_max_files: int = Field(
        100, gt=0, description="Files one diagnostics upload location (GetDiagnostics) may receive"
    )
    upload_location_max_bytes: int = Field(
        4 * 1024**3, gt=0, description="Bytes one diagnostics upload location may receive in all"
    )
    ftp_enabled: bool = Field(False, description="Run the FTP receiver for diagnostics uploads")
    ftp_host: str = Field("", description="Listen address of the FTP receiver; default api_host")
    ftp_port: int = 2121
    ftp_passive_ports: str = Field("", description="Passive port range, e.g. '60000-60100'")
    ftp_masquerade_address: str = Field("", description="Public IP announced in PASV replies")
    # Cluster (docs/cluster.md): unset redis_url = one node, no Redis needed.
    redis_url: str | None = Field(
        None, description="Redis URL (redis://host:6379/0) that joins this process to a cluster"
    )
    node_name: str = Field("", description="This node's name in the cluster; default host-pid")
    cluster_prefix: str = Field("watthub", description="Prefix of every Redis key and channel")
    cluster_lease: float = Field(
        10.0, gt=0, description="Seconds a node's claim on a station lasts without renewal"
    )
    reuse_port: bool = Field(
        False, description="Bind listeners with SO_REUSEPORT (set for `serve --workers` workers)"
    )
    # Observability (docs/cluster.md, "Observability").
    metrics_enabled: bool = Field(True, description="Serve GET /metrics (Prometheus text format)")
    metrics_token: str = Field(
        "", description="When set, GET /metrics requires 'Authorization: Bearer <this token>'"
    )
    metrics_host: str = Field("127.0.0.1", description="Listen address of metrics_port")
    metrics_port: int | None = Field(
        None,
        description="A separate plain-HTTP listener for /metrics and /health/* (an internal "
        "port for scrapers and load balancers); unset = only on the API port",
    )
    health_check_timeout: float = Field(
        2.0, description="Seconds a readiness check (database, Redis) may take before it fails"
    )
    log_level: str = "INFO"
    log_json: bool = False

    def public_name(self) -> str:
        return self.public_host or self.ocpp_host

    def ocpp_url(self) -> str:
        return (
            f"ws://{self.public_name()}:{self.ocpp_port}{self.ocpp_path.rstrip('/')}/{{stationId}}"
        )

    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    def api_url(self) -> str:
        host = self.public_host or self.api_host
        return f"http://{host}:{self.api_port}/api/v1"

    def files_url(self, api_port: int | None = None) -> str:
        """Where stations reach WattHub's file server (``api_port``: the port actually bound)."""
        if self.files_base_url:
            return self.files_base_url.rstrip("/")
        host = self.public_host or self.api_host
        return f"http://{host}:{api_port or self.api_port}"

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
