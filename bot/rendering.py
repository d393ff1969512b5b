"""Rendering: one Jinja2 environment (autoescape, StrictUndefined) and the string catalogue."""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, pass_context
from jinja2.runtime import Context

from bot.errors import ConfigError
from bot.i18n import Catalogue, Lang
from bot.topics import hashtags

SUFFIX = ".html.j2"


def default_templates() -> Path:
    """Return the templates shipped as the package ``bot.templates`` (the top-level templates/)."""
    bundled = files("bot.templates")
    # pip installs (wheel or editable) unpack packages into folders; a zipped install would need
    # TEMPLATES_DIR, because Jinja and the catalogue read real files.
    if not isinstance(bundled, Path):
        raise ConfigError("the bundled templates are not a folder here; set TEMPLATES_DIR")
    return bundled


def is_http_url(url: str) -> bool:
    """Tell whether `url` is an http(s) link Telegram will accept in a link or URL button."""
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://")) and len(lowered) > len("https://")


def _iso(value: date | None) -> str:
    return "" if value is None else value.isoformat()


@pass_context
def _translate(context: Context, key: str, **values: object) -> str:
    # Catalogue strings are plain text; autoescape escapes them like any other value.
    catalogue: Catalogue = context["catalogue"]
    lang: Lang = context["lang"]
    return catalogue.text(key, lang, **values)


def create_environment(templates_dir: Path) -> Environment:
    """Build the Jinja2 environment every message is rendered with."""
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.globals["_"] = _translate
    env.tests["http_url"] = is_http_url
    env.filters["iso"] = _iso
    env.filters["hashtags"] = hashtags
    return env


class Renderer:
    """Renders `templates/<name>.html.j2` to Telegram HTML in a given language."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        directory = templates_dir or default_templates()
        if not directory.is_dir():
            raise ConfigError(f"templates folder not found: {directory} (set TEMPLATES_DIR)")
        self.templates_dir = directory
        self.env = create_environment(directory)
        self.catalogue = Catalogue.load(directory / "strings.toml")

    def render(self, name: str, lang: Lang, /, **context: object) -> str:
        """Render one template to Telegram HTML, stripped of surrounding blank space."""
        try:
            template = self.env.get_template(name + SUFFIX)
        except TemplateNotFound as exc:
            raise ConfigError(f"template not found: {name}{SUFFIX}") from exc
        return template.render(lang=lang, catalogue=self.catalogue, **context).strip()

    def text(self, key: str, lang: Lang, /, **values: object) -> str:
        """Return a plain catalogue string (button labels, command descriptions)."""
        return self.catalogue.text(key, lang, **values)

    def template_names(self) -> list[str]:
        """List the templates that exist, without suffix."""
        return sorted(p.name.removesuffix(SUFFIX) for p in self.templates_dir.glob("*" + SUFFIX))
