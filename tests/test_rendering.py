"""Rendering: where templates come from, and what a missing folder says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import rendering
from bot.errors import ConfigError
from bot.rendering import BUNDLED_TEMPLATES, Renderer, is_http_url


def test_an_installed_package_falls_back_to_the_working_directorys_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rendering, "BUNDLED_TEMPLATES", tmp_path / "site-packages" / "templates")
    shutil.copytree(BUNDLED_TEMPLATES, tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    assert rendering.default_templates() == Path("templates")
    assert "核心要点" in Renderer().text("core_points", "zh")


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
