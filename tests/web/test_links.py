"""The bot's 📖 button: in-chat without a reader, a Mini App in private chats, a link elsewhere."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bot.config import Settings
from bot.digest import Button, callback
from bot.web.access import check_token, link_key
from bot.web.links import ReaderLinks, full_text_button, with_reader

from .conftest import TOKEN

NOW = 1_800_000_000


def links(tmp_path: Path, **values: object) -> ReaderLinks | None:
    settings = Settings(
        telegram_bot_token=TOKEN,
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        _env_file=None,
        **values,  # type: ignore[arg-type]
    )
    return ReaderLinks.from_settings(settings)


def test_without_web_url_the_button_sends_the_full_text_in_chat(tmp_path: Path) -> None:
    assert links(tmp_path) is None
    button = full_text_button("📖", None, 3, private=True, now=NOW)
    assert button == Button("📖", callback_data=callback("full", 3))


def test_private_chats_get_a_mini_app_and_others_a_signed_link(tmp_path: Path) -> None:
    reader = links(tmp_path, web_url="https://read.example.org/")
    assert reader is not None
    private = full_text_button("📖", reader, 3, private=True, now=NOW)
    group = full_text_button("📖", reader, 3, private=False, now=NOW)
    assert private.web_app is not None
    assert private.url is None
    assert group.url is not None
    assert group.web_app is None
    parts = urlsplit(group.url)
    assert (parts.netloc, parts.path) == ("read.example.org", "/a/3")
    expiry = check_token(link_key(TOKEN), "/a/3", parse_qs(parts.query)["t"][0], NOW)
    assert expiry is not None
    assert expiry - NOW >= 7 * 86400


def test_a_public_reader_links_without_tokens(tmp_path: Path) -> None:
    reader = links(tmp_path, web_url="https://read.example.org", web_public=True)
    assert reader is not None
    assert full_text_button("📖", reader, 3, private=False, now=NOW).url == (
        "https://read.example.org/a/3"
    )


def test_a_plain_http_reader_is_never_a_mini_app(tmp_path: Path) -> None:
    reader = links(tmp_path, web_url="http://127.0.0.1:8080")
    assert reader is not None
    assert full_text_button("📖", reader, 3, private=True, now=NOW).web_app is None


def test_only_the_full_text_button_changes(tmp_path: Path) -> None:
    reader = links(tmp_path, web_url="https://read.example.org")
    buttons = (
        Button("📖", callback_data=callback("full", 3)),
        Button("⚠️", callback_data=callback("risks", 3)),
        Button("🔗", url="https://example.com"),
    )
    changed = with_reader(buttons, reader, 3, private=False, now=NOW)
    assert changed[1:] == buttons[1:]
    assert changed[0].url is not None
    assert changed[0].callback_data is None
