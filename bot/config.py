"""Settings: the only module that reads the environment (and ``.env``)."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///data/digestbot.sqlite3"


class Settings(BaseSettings):
    """Everything digestbot can be configured with; see ``.env.example``."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    seeds_dir: Path = Path("seeds")
    templates_dir: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    sync_interval: float = Field(default=600.0, ge=0)  # seconds; 0 turns periodic re-sync off
    push_time: time = time(8, 0)
    timezone: str = "Asia/Shanghai"
    push_grace: timedelta = timedelta(hours=6)
    push_policy: Literal["newest", "backlog"] = "newest"
    push_max_per_day: int = Field(default=1, ge=1, le=10)
    push_max_attempts: int = Field(default=5, ge=1)
    push_tick: float = Field(default=30.0, gt=0)  # seconds between scheduler ticks
    rate_limit: float = Field(default=25.0, gt=0)  # messages per second, all chats together
    paid_broadcast: bool = False
    http_backend: Literal["aiohttp", "httpx"] = "aiohttp"
    proxy_url: str | None = None  # http(s) proxy for every Bot API call
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    port: int = 8443

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; a bad value becomes one ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
