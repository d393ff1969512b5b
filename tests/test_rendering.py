"""Rendering: where templates come from, and what a missing folder says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.rendering import Renderer, default_templates, is_http_url

ROOT = Path(__file__).resolve().parent.parent


def test_the_bundled_templates_are_the_top_level_templates_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a checkout (editable install) bot.templates is templates/, whatever the cwd."""
    monkeypatch.chdir(tmp_path)
    assert default_templates().resolve() == (ROOT / "templates").resolve()
    assert "核心要点" in Renderer().text("core_points", "zh")


def test_templates_dir_overrides_the_bundled_templates(tmp_path: Path) -> None:
    shutil.copytree(default_templates(), tmp_path / "mine")
    (tmp_path / "mine" / "notice.html.j2").write_text("mine: {{ text }}", encoding="utf-8")
    assert Renderer(tmp_path / "mine").render("notice", "en", text="x") == "mine: x"


def test_a_missing_templates_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TEMPLATES_DIR"):
        Renderer(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/a", True),
        ("HTTP://EXAMPLE.COM", True),
        ("javascript:alert(1)", False),
        ("tg://resolve?domain=x", False),
        ("https://", False),
        ("", False),
    ],
)
def test_only_http_links_count_as_links(url: str, ok: bool) -> None:
    assert is_http_url(url) is ok
