"""Settings: every variable's bad values become one line naming it, the value and a good one."""

from __future__ import annotations

from datetime import UTC, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.config import Settings, load_settings
from bot.errors import ConfigError

TOKEN = "123456789:AAHsecretsecretsecretsecret-x_y"  # noqa: S105 -- a fake token, never echoed


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No digestbot variable from the test's environment, and no .env in the working folder."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def refused(**values: object) -> str:
    """Load settings that must fail; return the one-line message."""
    with pytest.raises(ConfigError) as caught:
        load_settings(**values)
    message = str(caught.value)
    assert "\n" not in message
    return message


# (variable, bad value, why): at least one per Settings field (checked below).
BAD: list[tuple[str, str, str]] = [
    ("telegram_bot_token", "not a token", "not a bot token"),
    ("telegram_bot_token", TOKEN + "\nX", "not a bot token"),
    ("telegram_base_url", "notaurl", "not a URL"),
    ("telegram_base_url", "ftp://example.org/bot", "not a URL"),
    ("database_url", "nonsense", "not a database URL"),
    ("database_url", "mysql://user@host/db", "mysql:// is not supported"),
    ("database_url", "postgresql+psycopg2://h/db", "postgresql+psycopg2:// is not supported"),
    ("database_url", "postgresql://h:99999/db", "port 99999 is not 1-65535"),
    ("database_url", "postgresql://[::1/db", "not a database URL"),
    ("database_url", "sqlite://host/x.db", "a SQLite URL has no host"),
    ("seeds_dir", "seeds/\udcff", "the path is not valid UTF-8"),
    ("templates_dir", "\udcfe", "the path is not valid UTF-8"),
    ("log_level", "verbose", "must be one of 'DEBUG', 'INFO'"),
    ("admin_ids", "@alice", "'@alice' is not a numeric Telegram user id"),
    ("admin_ids", "12,x", "'x' is not a numeric"),
    ("admin_ids", "١٢٣", "not a numeric"),  # Arabic-Indic digits: int() would take them
    ("sync_interval", "inf", "not a duration"),
    ("sync_interval", "nan", "not a duration"),
    ("sync_interval", "-1", "not a duration"),
    ("sync_interval", "1e400", "not a duration"),
    ("sync_interval", "0.001", "must be 0 (off) or between"),
    ("sync_interval", "9" * 400, "not a duration"),  # float() makes it inf
    ("sync_interval", "31d", "must be 0 (off) or between"),
    ("push_time", "8am", "not a 24-hour time of day"),
    ("push_time", "24:00", "not a 24-hour time of day"),
    ("push_time", "08:00+08:00", "not a 24-hour time of day"),
    ("timezone", "Asia", "not an IANA timezone name"),
    ("timezone", "Mars/Olympus", "not an IANA timezone name"),
    ("timezone", "../../etc/passwd", "not an IANA timezone name"),
    ("timezone", "/etc/passwd", "not an IANA timezone name"),
    ("timezone", "x" * 300, "not an IANA timezone name"),
    ("timezone", "Asia/Shanghai\x00", "not an IANA timezone name"),
    ("push_grace", "6 hours", "not a duration"),
    ("push_grace", "-PT6H", "not a duration"),
    ("push_grace", "PT", "not a duration"),
    ("push_grace", "P", "not a duration"),
    ("push_grace", "0", "between 1 minute and 24 hours"),
    ("push_grace", "25h", "between 1 minute and 24 hours"),
    ("push_grace", "99999999999999999999d", "between 1 minute and 24 hours"),
    ("push_policy", "oldest", "must be one of 'newest' or 'backlog'"),
    ("push_max_per_day", "11", "must be at most 10"),
    ("push_max_per_day", "0", "must be at least 1"),
    ("push_max_per_day", "1.5", "not a whole number"),
    ("push_max_attempts", "0", "must be at least 1"),
    ("push_max_attempts", "1" * 5000, "not a whole number"),
    ("push_tick", "inf", "not a duration"),
    ("push_tick", "nan", "not a duration"),
    ("push_tick", "0", "between 0.05 s and 1 hour"),
    ("push_tick", "2h", "between 0.05 s and 1 hour"),
    ("shutdown_grace", "inf", "not a duration"),
    ("shutdown_grace", "-1", "not a duration"),
    ("shutdown_grace", "1h", "at most 10 minutes"),
    ("rate_limit", "inf", "not a (finite) number"),
    ("rate_limit", "nan", "not a (finite) number"),
    ("rate_limit", "0", "must be at least 0.01"),
    ("rate_limit", "-3", "must be at least 0.01"),
    ("paid_broadcast", "maybe", "not true or false"),
    ("full_text_max_messages", "0", "must be at least 1"),
    ("full_text_max_messages", "101", "must be at most 100"),
    ("full_text_max_messages", "ten", "not a whole number"),
    ("http_backend", "requests", "must be one of 'aiohttp' or 'httpx'"),
    ("proxy_url", "proxy:3128", "not a URL"),
    ("proxy_url", "http://", "not a URL"),
    ("webhook_url", "notaurl", "not a URL"),
    ("webhook_url", "https://example.org:99999/hook", "not a URL (bad host or port)"),
    ("webhook_url", "https://exa mple.org/", "no spaces or control characters"),
    ("webhook_secret", "has spaces", "Telegram accepts 1 to 256 letters"),
    ("webhook_secret", "x" * 257, "Telegram accepts 1 to 256 letters"),
    ("port", "99999", "must be at most 65535"),
    ("port", "0", "must be at least 1"),
    ("port", "http", "not a whole number"),
    ("web_url", "read.example.org", "not a URL"),
    ("web_url", "https://read.example.org/?x=1", "a base URL has no ?query or #fragment"),
    ("web_link_ttl", "10m", "between 1 hour and 366 days"),
    ("web_link_ttl", "400d", "between 1 hour and 366 days"),
    ("web_link_ttl", "soon", "not a duration"),
    ("web_public", "sometimes", "not true or false"),
    ("metrics_port", "99999", "must be at most 65535"),
    ("metrics_port", "-1", "must be at least 0"),
    ("inline_cache_time", "-1", "must be at least 0"),
    ("inline_cache_time", "86401", "must be at most 86400"),
    ("log_format", "xml", "must be one of 'text' or 'json'"),
    ("error_chat_id", "@admins", "not a numeric chat id"),
    ("error_chat_id", "12 34", "not a numeric chat id"),
]
SECRETS = {"telegram_bot_token", "webhook_secret"}


def test_the_table_tries_every_setting() -> None:
    assert {field for field, _, _ in BAD} == set(Settings.model_fields)


@pytest.mark.parametrize(("field", "value", "why"), BAD)
def test_a_bad_value_is_one_line_naming_the_variable_the_value_and_a_good_one(
    field: str, value: str, why: str
) -> None:
    message = refused(**{field: value})
    variable = field.upper()
    assert message.startswith(f"invalid configuration: {variable}")
    assert why in message
    assert f"; e.g. {variable}=" in message
    if field in SECRETS:
        assert f"{variable} (value hidden): " in message
        assert value.strip() not in message
        assert "secretsecret" not in message
    else:
        assert f"{variable}='" in message
    for leak in ("invalid literal", "input is too short", "identifier", "Input should"):
        assert leak not in message


def test_a_long_value_is_cut_short_in_the_message() -> None:
    message = refused(timezone="x" * 300)
    assert "x" * 79 + "…'" in message
    assert "x" * 80 not in message


def test_the_token_and_a_password_are_never_echoed() -> None:
    message = refused(
        telegram_bot_token=TOKEN + " trailing words",
        database_url="mysql://alice:hunter2@db.example.org/digest",
        webhook_url=f"notaurl/{TOKEN}",
        proxy_url="proxy.internal:3128:alice:hunter2@",
    )
    assert TOKEN.split(":")[1] not in message
    assert "hunter2" not in message
    assert "mysql://alice:***@db.example.org/digest" in message
    assert "'notaurl/<token>'" in message
    assert message.count("; e.g. ") == 4


def test_a_password_in_a_url_that_cannot_be_parsed_is_still_hidden() -> None:
    message = refused(database_url="postgres://alice:pa@ss:w0rd@host:1:2/db")
    assert "pa@ss" not in message
    assert "w0rd" not in message
    assert "'postgres://alice:***@host:1:2/db'" in message


def test_the_defaults_load_and_a_pasted_token_loses_its_newline() -> None:
    loaded = load_settings(telegram_bot_token=f" {TOKEN}\n")
    assert loaded.telegram_bot_token == SecretStr(TOKEN)
    assert loaded.push_grace == timedelta(hours=6)
    assert loaded.push_time == time(8, 0)
    assert load_settings(telegram_bot_token=SecretStr(TOKEN)).telegram_bot_token is not None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("6h", 21600),
        ("90m", 5400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("PT6H", 21600),
        ("pt1h30m", 5400),
        ("P1D", 86400),
        ("21600", 21600),
        ("21600.0", 21600),
        ("06:00:00", 21600),
        (" 6H ", 21600),
        (timedelta(hours=2), 7200),
        (3600, 3600),
    ],
)
def test_durations_read_as_units_iso_8601_clock_or_seconds(value: object, seconds: int) -> None:
    loaded = load_settings(push_grace=value, sync_interval=value, push_tick="30s")
    assert loaded.push_grace == timedelta(seconds=seconds)
    assert loaded.sync_interval == seconds
    assert loaded.push_tick == 30


def test_sync_interval_zero_turns_the_resync_off_and_small_ticks_stay_allowed() -> None:
    loaded = load_settings(sync_interval="0", push_tick="0.1")
    assert (loaded.sync_interval, loaded.push_tick) == (0, 0.1)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@host:5432/db", "postgresql+psycopg://u:p@host:5432/db"),
        (
            "postgresql://u:p@host/db?sslmode=require",
            "postgresql+psycopg://u:p@host/db?sslmode=require",
        ),
        ("POSTGRES://u@host/db", "postgresql+psycopg://u@host/db"),
        ("postgresql+psycopg://u@host/db", "postgresql+psycopg://u@host/db"),
        ("sqlite:///data/x.sqlite3", "sqlite:///data/x.sqlite3"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_hosting_platform_postgres_urls_use_the_psycopg_driver(given: str, expected: str) -> None:
    assert load_settings(database_url=given).database_url == expected


def test_admin_ids_split_on_commas_and_spaces() -> None:
    assert load_settings(admin_ids="1, 2 3,,4").admin_ids == frozenset({1, 2, 3, 4})
    assert load_settings(admin_ids=5).admin_ids == frozenset({5})


def test_choices_and_times_are_forgiving_about_case_and_spaces() -> None:
    loaded = load_settings(
        log_level="debug", push_policy="Backlog", http_backend=" HTTPX ", push_time=" 7:05 "
    )
    assert load_settings(log_level="warn", paid_broadcast=" True ").log_level == "WARNING"
    assert (loaded.log_level, loaded.push_policy, loaded.http_backend) == (
        "DEBUG",
        "backlog",
        "httpx",
    )
    assert loaded.push_time == time(7, 5)


def test_a_push_time_with_an_offset_is_refused() -> None:
    message = refused(push_time=time(8, 0, tzinfo=UTC))
    assert "set TIMEZONE instead" in message


def test_seeds_dir_expands_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings(seeds_dir="~/articles").seeds_dir == tmp_path / "articles"


def test_env_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"TIMEZONE=\xff\n")
    assert refused() == ".env: not UTF-8 text (byte at offset 9)"


def test_a_folder_named_env_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    assert load_settings().timezone == "Asia/Shanghai"


@settings(deadline=None, max_examples=300)
@given(field=st.sampled_from(sorted(Settings.model_fields)), value=st.text(max_size=40))
def test_any_text_for_any_variable_loads_or_is_one_config_error(field: str, value: str) -> None:
    try:
        load_settings(**{field: value})
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message
        assert message.startswith(f"invalid configuration: {field.upper()}")


def test_shutdown_grace_is_a_duration_like_the_others() -> None:
    assert load_settings().shutdown_grace == 10
    assert load_settings(shutdown_grace="2s").shutdown_grace == 2
    assert load_settings(shutdown_grace="PT30S").shutdown_grace == 30
    assert load_settings(shutdown_grace="0").shutdown_grace == 0
