"""Settings from the environment, built once in ``__main__`` (or by a test) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Everything Herald reads from its environment (``HERALD_*``)."""

    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    database_url: SecretStr | None = None
    amqp_url: SecretStr | None = None
    provider_url: str | None = None
    provider_token: SecretStr | None = None
    api_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    fake_provider_port: int = Field(default=8025, ge=0, le=65535)  # herald serve's; 0 = any free

    data_dir: Path = Path(".herald")
    migrations_dir: Path = REPO_ROOT / "migrations"
    log_format: str = Field(default="auto", pattern="^(auto|json|text)$")
    log_level: str = "INFO"

    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=20, ge=1)

    queue_name: str = "herald.dispatch"
    queue_delivery_limit: int = Field(default=5, ge=1)
    batch_size: int = Field(default=200, ge=1, le=5000)

    poll_interval: float = Field(default=1.0, gt=0, le=60)
    fanout_chunk: int = Field(default=50_000, ge=1)
    max_queued: int = Field(default=20_000, ge=1)
    queue_lease: float = Field(default=60.0, gt=0)
    send_lease: float = Field(default=60.0, gt=0)

    concurrency: int = Field(default=100, ge=1)
    rate_limit: float | None = Field(default=None, gt=0)
    provider_timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    retry_base: float = Field(default=1.0, gt=0)
    retry_cap: float = Field(default=300.0, gt=0)
    breaker_threshold: int = Field(default=20, ge=1)
    breaker_cooldown: float = Field(default=5.0, gt=0)
    shutdown_grace: float = Field(default=15.0, ge=0)
    send_margin: float = Field(default=0.05, ge=0)
