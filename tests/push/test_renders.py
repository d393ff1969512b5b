"""Digests for a push: each (article, language) rendered once a run, as /latest shows it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from bot.digest import article_buttons, render_part
from bot.i18n import DEFAULT_LANG, Lang
from bot.model import Claim
from bot.push.renders import DigestRenders
from bot.push.run import run_push
from bot.rendering import Renderer
from bot.store import Store
from tests.conftest import (
    DEFAULTS,
    NOW,
    add_articles,
    add_subscribers,
)
from tests.push.conftest import FakeSender, add_long_article, options


class CountingRenderer(Renderer):
    """The bundled templates, counting renders per (template, language)."""

    def __init__(self) -> None:
        super().__init__()
        self.renders: Counter[tuple[str, str]] = Counter()

    def render(self, name: str, lang: Lang, /, **context: object) -> str:
        self.renders[name, lang] += 1
        return super().render(name, lang, **context)


async def test_each_article_and_language_is_rendered_once_per_run(store: Store) -> None:
    add_articles(store, 2)
    add_subscribers(store, 60)  # both languages
    counting = CountingRenderer()
    sender = FakeSender()
    two = replace(DEFAULTS, max_per_day=2)
    report = await run_push(store, counting, sender, options(defaults=two), now=NOW)
    assert len(sender.delivered) == 120
    assert counting.renders == Counter({("digest", "zh"): 2, ("digest", "en"): 2})
    assert report.renders == 4


def claim_for(article_id: int, language: str, delivery_id: int = 1) -> Claim:
    return Claim(delivery_id, 1, 100 + delivery_id, "private", language, article_id, 0)


async def test_a_digest_holds_every_part_and_the_buttons_latest_shows(
    store: Store, renderer: Renderer
) -> None:
    stored = add_long_article(store)
    renders = DigestRenders(store, renderer)
    claims = [claim_for(stored.id, "en", 1), claim_for(stored.id, "zh", 2)]
    await renders.prepare(claims)
    for claim, lang in zip(claims, ("en", "zh"), strict=True):
        digest = renders.digest(claim)
        assert digest is not None
        assert digest.parts == tuple(render_part(renderer, stored, "digest", lang))
        assert len(digest.parts) == 3
        assert digest.buttons == article_buttons(renderer, stored, lang)
    assert renders.count == 2


async def test_hidden_or_deleted_articles_have_no_digest(store: Store, renderer: Renderer) -> None:
    first, second = add_articles(store, 2)
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["a2"])
    renders = DigestRenders(store, renderer)
    claims = [claim_for(first, "en", 1), claim_for(second, "en", 2), claim_for(999, "en", 3)]
    await renders.prepare(claims)
    assert renders.digest(claims[0]) is not None
    assert renders.digest(claims[1]) is None
    assert renders.digest(claims[2]) is None
    assert renders.count == 1


async def test_an_unknown_language_gets_the_default_one(store: Store, renderer: Renderer) -> None:
    [article_id] = add_articles(store, 1)
    renders = DigestRenders(store, renderer)
    odd, default = claim_for(article_id, "xx", 1), claim_for(article_id, DEFAULT_LANG, 2)
    await renders.prepare([odd, default])
    assert renders.digest(odd) == renders.digest(default)
    assert renders.count == 1
