"""Settings, read from ``SIYU_*`` environment variables (or a ``.env`` file in the working directory).

Every storage and transport choice is a URL, so the same code runs embedded (SQLite, a local durable
queue, DuckDB) or on servers (PostgreSQL, RabbitMQ, Redis, ClickHouse).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIYU_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".siyu")
    # Empty means "the embedded default inside data_dir".
    database_url: str = ""
    bus_url: str = ""
    warehouse_url: str = ""
    redis_url: str = ""

    # Tracking API limits (reference/tracking-api.md).
    max_message_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    # Default per-source rate limit in events per second; 0 means unlimited. A source may override it.
    rate_limit_events_per_s: float = 0.0
    rate_limit_burst_s: float = 2.0
    # Differences between a client's sentAt and our receivedAt below this are network delay, not skew.
    clock_skew_tolerance_s: float = 5.0
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    # How long a (source, messageId) pair is remembered for deduplication. At least 24 hours.
    dedup_window_hours: int = Field(default=168, ge=24)

    # Bus.
    bus_namespace: str = "siyu"  # RabbitMQ exchange and queue-name prefix
    bus_fsync: bool = False
    bus_lease_s: float = 60.0
    bus_max_attempts: int = 20
    # Worker.
    embedded_worker: bool = True
    # With a single-process store (DuckDB, chdb), `siyu serve` runs its worker as a child process that
    # owns the store (False: in the API process itself).
    worker_process: bool = True
    worker_batch_events: int = 50_000
    worker_batch_wait_ms: int = 200

    # Query API.
    query_max_rows: int = 10_000
    query_timeout_s: float = 30.0
    # Analytics: the brand's UTC offset for local days and weeks (Asia/Shanghai: +480, no daylight saving).
    analytics_tz_offset_minutes: int = Field(default=480, ge=-720, le=840)
    member_token_ttl_s: int = Field(default=7200, ge=60, le=30 * 86400)
    # Commerce: the shared secret of the webhook payment provider (empty: that provider is off).
    payment_webhook_secret: str = ""
    # Sweeps for unpaid timeouts and auto-completion, in the worker process.
    order_sweep_interval_s: float = Field(default=5.0, gt=0)
    loyalty_sweep_interval_s: float = Field(default=30.0, gt=0)
    # Flash sales: expired reservations back to the quota, and the Redis reconciler, in the worker process.
    flash_sweep_interval_s: float = Field(default=5.0, gt=0)

    log_level: str = "INFO"
    log_json: bool = True

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'siyu.sqlite3'}"

    def resolved_bus_url(self) -> str:
        return self.bus_url or f"sqlite:///{self.data_dir / 'bus.sqlite3'}"

    def resolved_warehouse_url(self) -> str:
        return self.warehouse_url or f"duckdb:///{self.data_dir / 'events.duckdb'}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
