"""Languages and the string catalogue (templates/strings.toml) every message shares."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard

from bot.errors import ConfigError

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "en"


def is_lang(value: object) -> TypeGuard[Lang]:
    """Tell whether `value` names a supported language."""
    return value in LANGS


def language_for(code: str | None) -> Lang:
    """Pick the reply language for a Telegram `language_code`: Chinese for zh*, else English."""
    if code and code.lower().startswith("zh"):
        return "zh"
    return DEFAULT_LANG


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Fixed strings by key and language, loaded once from a TOML file."""

    entries: dict[str, dict[Lang, str]]

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        """Read and check a catalogue: every key must have every language, same placeholders."""
        try:
            raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot load the string catalogue: {exc}") from exc
        entries: dict[str, dict[Lang, str]] = {}
        for key, value in raw.items():
            if not isinstance(value, dict) or set(value) != set(LANGS):
                raise ConfigError(f"{path}: [{key}] needs exactly the languages {LANGS}")
            texts = {lang: value[lang] for lang in LANGS}
            if not all(isinstance(t, str) for t in texts.values()):
                raise ConfigError(f"{path}: [{key}] values must be strings")
            fields = {lang: _fields(t) for lang, t in texts.items()}
            if fields["zh"] != fields["en"]:
                raise ConfigError(f"{path}: [{key}] languages use different placeholders")
            entries[key] = texts
        return cls(entries)

    def text(self, key: str, lang: Lang, /, **values: object) -> str:
        """Return the plain (unescaped) string `key` in `lang`, formatted with `values`."""
        try:
            template = self.entries[key][lang]
        except KeyError as exc:
            raise ConfigError(f"no string {key!r} in the catalogue") from exc
        return template.format(**values) if values else template


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
