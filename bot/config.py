"""Settings: the only module that reads the environment (and ``.env``).

Every value is checked here, at start, so a bad one stops the program with one line naming the
variable, the value as given (never the token, a secret or a password) and an example of a
good one, instead of a traceback later.
"""

from __future__ import annotations

import math
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from bot.errors import ConfigError
from bot.scheduling import zone

DEFAULT_DATABASE_URL = "sqlite:///data/digestbot.sqlite3"

# Bounds that keep the scheduler sane: a zero or tiny interval would spin, a huge one would
# overflow APScheduler's timedelta; a grace window longer than a day overlaps the next push.
MIN_INTERVAL = 0.05
MAX_SYNC_INTERVAL = 30 * 24 * 3600.0
MAX_PUSH_TICK = 3600.0
MIN_GRACE = timedelta(minutes=1)
MAX_GRACE = timedelta(hours=24)
# A reader link shorter than an hour expires before people read; bot.web.access caps a year.
MIN_LINK_TTL = timedelta(hours=1)
MAX_LINK_TTL = timedelta(days=366)
# Platforms kill a process some seconds after SIGTERM (Heroku: 30 s); more than this is a typo.
MAX_SHUTDOWN_GRACE = 600.0

# What PostgreSQL URLs from hosting platforms say → the driver digestbot ships with.
_POSTGRES_SCHEMES = ("postgres://", "postgresql://")
_SUPPORTED_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})

_TOKEN_RE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ID_RE = re.compile(r"[0-9]+")
_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_SECONDS_RE = re.compile(_NUMBER)
_UNITS_RE = re.compile(rf"(?:{_NUMBER}\s*(?:ms|[dhms])\s*)+")
_UNIT_RE = re.compile(rf"({_NUMBER})\s*(ms|[dhms])")
_ISO_RE = re.compile(
    rf"P(?:({_NUMBER})D)?(?:T(?:({_NUMBER})H)?(?:({_NUMBER})M)?(?:({_NUMBER})S)?)?", re.IGNORECASE
)
_CLOCK_RE = re.compile(r"([0-9]+):([0-9]{2}):([0-9]{2}(?:\.[0-9]+)?)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

# Redacted from every echoed value: something shaped like a bot token, a URL's password.
_TOKEN_IN_TEXT_RE = re.compile(r"[0-9]{3,}:[A-Za-z0-9_-]{10,}")
# user:password@ (up to the last "@": an unescaped "@" in a password is a common mistake).
_PASSWORD_IN_URL_RE = re.compile(r"([^\s/:@]*):(?!//)\S*@")
_ECHO_LIMIT = 80

# Field → a good value, quoted in the error line.
_EXAMPLES: dict[str, str] = {
    "telegram_bot_token": "123456789:AAE… (the token @BotFather gave you)",
    "telegram_base_url": "http://127.0.0.1:8081/bot",
    "database_url": "sqlite:///data/digestbot.sqlite3 or postgresql://user:password@host/db",
    "seeds_dir": "seeds",
    "templates_dir": "templates",
    "log_level": "INFO (or DEBUG, WARNING, ERROR, CRITICAL)",
    "admin_ids": "12345678,87654321 (numeric user ids)",
    "sync_interval": "600 (seconds), 10m, or 0 to turn it off",
    "push_time": "08:00",
    "timezone": "Asia/Shanghai",
    "push_grace": "6h (or 90m, PT6H, 21600 seconds)",
    "push_policy": "newest (or backlog)",
    "push_max_per_day": "1 (1 to 10)",
    "push_max_attempts": "5 (1 to 100)",
    "push_tick": "30 (seconds, at most 3600)",
    "shutdown_grace": "10s (or 2, 30s; seconds, at most 600)",
    "rate_limit": "25 (messages per second)",
    "paid_broadcast": "false (or true)",
    "full_text_max_messages": "10 (1 to 100)",
    "http_backend": "aiohttp (or httpx)",
    "proxy_url": "http://proxy.internal:3128",
    "webhook_url": "https://bot.example.org/telegram",
    "webhook_secret": "a-random-secret_123 (letters, digits, _ and -)",
    "port": "8443 (1 to 65535)",
    "web_url": "https://read.example.org (the reader's public base URL)",
    "web_link_ttl": "7d (or 12h, PT48H; 1 hour to 366 days)",
    "web_public": "false (or true: every page open to anyone)",
    "metrics_port": "9100 (or 0 to turn it off)",
    "log_format": "text (or json)",
    "error_chat_id": "-1001234567890 (a numeric chat id; a user's id for a private chat)",
    "inline_cache_time": "30 (seconds, 0 to 86400)",
}
_BOUND_WORDS = {
    "greater_than": "more than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}
_TYPE_WORDS = {
    "int": "not a whole number",
    "float": "not a (finite) number",
    "finite_number": "not a (finite) number",
    "bool": "not true or false",
}
# Never echoed, not even in part.
_SECRETS = frozenset({"telegram_bot_token", "webhook_secret"})


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
    log_format: Literal["text", "json"] = "text"
    error_chat_id: int | None = None  # unhandled errors are also sent there
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    sync_interval: float = 600.0  # seconds; 0 turns periodic re-sync off
    push_time: time = time(8, 0)
    timezone: str = "Asia/Shanghai"
    push_grace: timedelta = timedelta(hours=6)
    push_policy: Literal["newest", "backlog"] = "newest"
    push_max_per_day: int = Field(default=1, ge=1, le=10)
    push_max_attempts: int = Field(default=5, ge=1, le=100)
    push_tick: float = 30.0  # seconds between scheduler ticks
    # seconds a stopping bot (SIGTERM, Ctrl-C) still sends for; later sends are abandoned
    shutdown_grace: float = 10.0
    # messages per second, all chats together
    rate_limit: float = Field(default=25.0, ge=0.01, allow_inf_nan=False)
    paid_broadcast: bool = False
    # messages one /full (or 📖 press) sends; a longer text ends with how to read on
    full_text_max_messages: int = Field(default=10, ge=1, le=100)
    http_backend: Literal["aiohttp", "httpx"] = "aiohttp"
    proxy_url: str | None = None  # http(s) proxy for every Bot API call
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    port: int = Field(default=8443, ge=1, le=65535)
    web_url: str | None = None  # the web reader's public base; unset: no reader buttons
    web_link_ttl: timedelta = timedelta(days=7)  # how long a signed reader link opens a page
    web_public: bool = False  # every reader page open to anyone, no signed link needed
    # /healthz and /metrics; 0 = off (a webhook serves them on PORT anyway)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # seconds Telegram may show a cached answer to the same inline query (per user)
    inline_cache_time: int = Field(default=30, ge=0, le=86400)

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            value = value.strip()  # a pasted token often brings a newline along
            if not value:
                return None  # empty is unset: the commands that need a token say so
            if not _TOKEN_RE.fullmatch(value):
                raise ValueError(
                    "not a bot token (digits, a colon, then letters, digits, _ and -)"
                )
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_shape(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and not _SECRET_TOKEN_RE.fullmatch(value):
            # Telegram's rule for secret_token; it refuses anything else at setWebhook.
            raise ValueError("Telegram accepts 1 to 256 letters, digits, _ and -")
        return value

    @field_validator("telegram_base_url", "webhook_url", mode="before")
    @classmethod
    def _http_url(cls, value: object) -> object:
        return _url(value, ("http", "https")) if isinstance(value, str) else value

    @field_validator("web_url", mode="before")
    @classmethod
    def _web_url(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = _url(value, ("http", "https"))
        if urlsplit(text).query or urlsplit(text).fragment:
            raise ValueError("a base URL has no ?query or #fragment")
        return text.rstrip("/")

    @field_validator("web_link_ttl", mode="before")
    @classmethod
    def _link_ttl(cls, value: object) -> timedelta:
        seconds = _seconds(value)
        if not MIN_LINK_TTL.total_seconds() <= seconds <= MAX_LINK_TTL.total_seconds():
            raise ValueError("must be between 1 hour and 366 days")
        return timedelta(seconds=seconds)

    @field_validator("proxy_url", mode="before")
    @classmethod
    def _proxy_url(cls, value: object) -> object:
        schemes = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
        return _url(value, schemes) if isinstance(value, str) else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: object) -> object:
        return _database_url(value) if isinstance(value, str) else value

    @field_validator("seeds_dir", "templates_dir", mode="before")
    @classmethod
    def _folder(cls, value: object) -> object:
        if isinstance(value, str | Path):
            try:
                str(value).encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("the path is not valid UTF-8") from None
            try:
                return Path(value).expanduser()
            except RuntimeError:  # "~" without a home directory
                return Path(value)
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part for part in re.split(r"[\s,]+", value) if part]
            bad = [part for part in parts if not _ID_RE.fullmatch(part)]
            if bad:
                raise ValueError(
                    f"{bad[0][:40]!r} is not a numeric Telegram user id (@usernames do not work)"
                )
            return frozenset(int(part) for part in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("error_chat_id", mode="before")
    @classmethod
    def _chat_id(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if not re.fullmatch(r"-?[0-9]+", value):
                raise ValueError("not a numeric chat id (@usernames do not work)")
            return int(value)
        return value

    @field_validator("log_level", "log_format", "push_policy", "http_backend", mode="before")
    @classmethod
    def _case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if info.field_name == "log_level":
            # The spellings Python's logging accepts too.
            return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(value.upper(), value.upper())
        return value.lower()

    @field_validator("paid_broadcast", "web_public", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("push_time", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        if isinstance(value, time):
            if value.tzinfo is not None:
                raise ValueError("a push time has no UTC offset; set TIMEZONE instead")
            return value
        if not isinstance(value, str):
            raise ValueError("not a time of day")  # noqa: TRY004 -- pydantic wraps only ValueError
        match = _TIME_RE.fullmatch(value.strip())
        if match is None:
            raise ValueError("not a 24-hour time of day")
        try:
            return time(int(match[1]), int(match[2]), int(match[3] or 0))
        except ValueError:
            raise ValueError("not a 24-hour time of day (00:00 to 23:59)") from None

    @field_validator("timezone", mode="before")
    @classmethod
    def _known_zone(cls, value: object) -> object:
        if not isinstance(value, str) or zone(value.strip()) is None:
            raise ValueError("not an IANA timezone name")
        return value.strip()

    @field_validator("push_grace", mode="before")
    @classmethod
    def _grace(cls, value: object) -> timedelta:
        seconds = _seconds(value)
        if not MIN_GRACE.total_seconds() <= seconds <= MAX_GRACE.total_seconds():
            raise ValueError("must be between 1 minute and 24 hours")
        return timedelta(seconds=seconds)

    @field_validator("sync_interval", mode="before")
    @classmethod
    def _sync_interval(cls, value: object) -> float:
        seconds = _seconds(value)
        if seconds != 0 and not MIN_INTERVAL <= seconds <= MAX_SYNC_INTERVAL:
            raise ValueError(f"must be 0 (off) or between {MIN_INTERVAL} s and 30 days")
        return seconds

    @field_validator("shutdown_grace", mode="before")
    @classmethod
    def _shutdown_grace(cls, value: object) -> float:
        seconds = _seconds(value)
        if seconds > MAX_SHUTDOWN_GRACE:
            raise ValueError("must be at most 10 minutes")
        return seconds

    @field_validator("push_tick", mode="before")
    @classmethod
    def _push_tick(cls, value: object) -> float:
        seconds = _seconds(value)
        if not MIN_INTERVAL <= seconds <= MAX_PUSH_TICK:
            raise ValueError(f"must be between {MIN_INTERVAL} s and 1 hour")
        return seconds


def _url(value: str, schemes: tuple[str, ...]) -> str:
    """Return a URL if it is scheme://host… with one of `schemes`; raise ValueError otherwise."""
    text = value.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError("a URL holds no spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError when the port is not 0-65535
    except ValueError:
        raise ValueError("not a URL (bad host or port)") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValueError(f"not a URL of the form {schemes[0]}://host/…")
    return text


def _database_url(value: str) -> str:
    """Return a DATABASE_URL digestbot can open; map postgres:// URLs to the psycopg driver."""
    text = value.strip()
    for scheme in _POSTGRES_SCHEMES:
        # What Heroku, Render, Railway and friends hand out; SQLAlchemy needs the driver named.
        if text.lower().startswith(scheme):
            text = "postgresql+psycopg://" + text[len(scheme) :]
    # SQLAlchemy's own parser, imported only when DATABASE_URL is checked (the settings are
    # loaded): `--version`, which loads none, starts without it.
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        url = make_url(text)
        url.port  # noqa: B018 -- make_url checks only that the port is a number
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL") from None
    if url.drivername not in _SUPPORTED_DRIVERS:
        raise ValueError(f"{url.drivername}:// is not supported (only SQLite and PostgreSQL)")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError(f"port {url.port} is not 1-65535")
    if url.get_backend_name() == "sqlite" and (url.host or url.port):
        raise ValueError("a SQLite URL has no host: sqlite:///relative or sqlite:////absolute")
    return text


def _seconds(value: object) -> float:
    """Return a duration in seconds: 6h, 90m, 1h30m, PT6H, 06:00:00 or plain seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration(value.strip())
    else:
        raise ValueError("not a duration")  # noqa: TRY004 -- pydantic wraps only ValueError
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("not a duration (a finite number of seconds, not negative)")
    return seconds


def _parse_duration(text: str) -> float:
    lowered = text.lower()
    if _SECONDS_RE.fullmatch(lowered):
        return float(lowered)
    if _UNITS_RE.fullmatch(lowered):
        return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _UNIT_RE.findall(lowered))
    iso = _ISO_RE.fullmatch(text)
    if iso is not None and any(iso.groups()) and not text.upper().endswith("T"):
        days, hours, minutes, secs = (float(group or 0) for group in iso.groups())
        return days * 86400 + hours * 3600 + minutes * 60 + secs
    clock = _CLOCK_RE.fullmatch(text)
    if clock is not None:
        return int(clock[1]) * 3600 + int(clock[2]) * 60 + float(clock[3])
    raise ValueError("not a duration")


class _Secrets(BaseSettings):
    """The secret settings alone, as given: read even when another setting is invalid."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    telegram_bot_token: str | None = None
    webhook_secret: str | None = None


def configured_secrets() -> list[str]:
    """Return TELEGRAM_BOT_TOKEN and WEBHOOK_SECRET as set, to keep out of every output."""
    try:
        found = _Secrets()
    except (ValidationError, SettingsError, UnicodeDecodeError, OSError):
        return []  # load_settings reports the same problem in one line
    values = (found.telegram_bot_token, found.webhook_secret)
    return [value.strip() for value in values if value and value.strip()]


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; a bad value becomes one ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {_echo(str(exc))}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f".env: not UTF-8 text (byte at offset {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f".env: cannot read ({exc.strerror or type(exc).__name__})") from exc


def _problem(err: ErrorDetails) -> str:
    """Return one validation error as `VAR=value: why; e.g. VAR=good`."""
    field = str(err["loc"][0]) if err["loc"] else ""
    variable = field.upper() or "settings"
    given = " (value hidden)" if field in _SECRETS else f"={_echo(err.get('input'))}"
    example = _EXAMPLES.get(field)
    hint = f"; e.g. {variable}={example}" if example else ""
    return f"{variable}{given}: {_reason(err)}{hint}"


def _reason(err: ErrorDetails) -> str:
    """Return why a value was refused, in words that do not leak pydantic's internals."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", "not valid"))
    if kind in _BOUND_WORDS:
        return f"must be {_BOUND_WORDS[kind]} {next(iter(ctx.values()), '')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    family = kind.partition("_")[0]
    return _TYPE_WORDS.get(family, _TYPE_WORDS.get(kind, "not valid"))


def _echo(value: object) -> str:
    """Return a value for an error line: one line, short, without a token or a password."""
    text = value if isinstance(value, str) else str(value)
    text = _TOKEN_IN_TEXT_RE.sub("<token>", text)
    text = _PASSWORD_IN_URL_RE.sub(r"\1:***@", text)
    if len(text) > _ECHO_LIMIT:
        text = text[: _ECHO_LIMIT - 1] + "…"
    return repr(text)
