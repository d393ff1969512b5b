"""Digest: templates render every part in both languages as safe Telegram HTML."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bot.arguments import parse_callback
from bot.digest import (
    PARTS,
    DigestCache,
    article_buttons,
    callback,
    render_part,
)
from bot.i18n import LANGS, Lang
from bot.markup import parse_html, utf16_len
from bot.model import Article, Point, StoredArticle
from bot.rendering import Renderer

HOSTILE = StoredArticle(
    id=3,
    article=Article(
        slug="hostile",
        title="<script>alert(1)</script> & Co",
        date=date(2025, 6, 8),
        author="A <b>",
        source="S & S",
        url="javascript:alert(1)",
        one_line='1 < 2 > 0 & "quoted" 🎉',
        points=(Point("<i>label</i>", "text & <tag>"), Point("", "plain <br>")),
        risks=(Point("risk <b>", "r & r"),),
        body="para <p>one</p>\n\npara two &amp;",
        tags=(),
    ),
)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("part", PARTS)
def test_hostile_text_is_escaped_and_telegram_accepts_it(
    renderer: Renderer, part: str, lang: Lang
) -> None:
    for message in render_part(renderer, HOSTILE, part, lang):  # type: ignore[arg-type]
        parsed = parse_html(message)  # raises on anything Telegram would refuse
        assert "<script>" not in message
        assert "javascript:" not in message or part == "full"
        if part == "digest":
            assert "<script>alert(1)</script> & Co" in parsed.text
            assert '1 < 2 > 0 & "quoted" 🎉' in parsed.text


def test_non_http_url_is_never_a_link(renderer: Renderer) -> None:
    for part in PARTS:
        for message in render_part(renderer, HOSTILE, part, "en"):
            assert all(e.type != "text_link" for e in parse_html(message).entities)
    assert all(b.url is None for b in article_buttons(renderer, HOSTILE, "en"))


def test_digest_shows_title_meta_summary_and_labelled_points(renderer: Renderer) -> None:
    linked = replace(
        HOSTILE, article=replace(HOSTILE.article, url="https://example.com/a?b=1&c=2")
    )
    (message,) = render_part(renderer, linked, "digest", "zh")
    parsed = parse_html(message)
    assert parsed.text.startswith("<script>alert(1)</script> & Co\n")
    assert "2025-06-08 · A <b> · S & S" in parsed.text
    assert "• <i>label</i>：text & <tag>" in parsed.text
    assert "• plain <br>" in parsed.text
    assert "核心要点" in parsed.text
    links = [e.url for e in parsed.entities if e.type == "text_link"]
    assert links == ["https://example.com/a?b=1&c=2"]
    (english,) = render_part(renderer, linked, "digest", "en")
    assert "Key points" in parse_html(english).text


@pytest.mark.parametrize(("lang", "colon"), [("zh", "："), ("en", ": ")])
def test_a_point_label_is_followed_by_the_languages_colon(
    renderer: Renderer, lang: Lang, colon: str
) -> None:
    (digest,) = render_part(renderer, HOSTILE, "digest", lang)
    assert f"• <i>label</i>{colon}text & <tag>" in parse_html(digest).text
    (risks,) = render_part(renderer, HOSTILE, "risks", lang)
    assert f"⚠️ risk <b>{colon}r & r" in parse_html(risks).text


def test_the_risks_button_only_shows_when_the_article_has_risks(renderer: Renderer) -> None:
    riskless = replace(HOSTILE, article=replace(HOSTILE.article, risks=()))
    callbacks = [b.callback_data for b in article_buttons(renderer, riskless, "en")]
    assert [c for c in callbacks if c] == ["full:3"]
    assert "risks:3" in [b.callback_data for b in article_buttons(renderer, HOSTILE, "en")]


@pytest.mark.parametrize(("lang", "sentence"), [("zh", "没有风险"), ("en", "no risks section")])
def test_risks_without_any_say_so_in_one_sentence(
    renderer: Renderer, lang: Lang, sentence: str
) -> None:
    bare = replace(HOSTILE, article=replace(HOSTILE.article, risks=()))
    (message,) = render_part(renderer, bare, "risks", lang)
    assert sentence in parse_html(message).text


def test_full_text_keeps_paragraphs_and_splits_long_articles(renderer: Renderer) -> None:
    body = "\n\n".join(f"段落{i}。" + "很长的句子，" * 80 for i in range(60))
    long = replace(HOSTILE, article=replace(HOSTILE.article, body=body))
    messages = render_part(renderer, long, "full", "zh")
    assert len(messages) > 1
    texts = [parse_html(m).text for m in messages]
    assert all(0 < utf16_len(t) <= 4096 for t in texts)
    joined = "".join(texts)
    assert all(f"段落{i}。" in joined for i in range(60))
    assert joined.index("段落10。") < joined.index("段落11。")


def test_buttons_carry_short_callback_data(renderer: Renderer) -> None:
    linked = replace(HOSTILE, article=replace(HOSTILE.article, url="https://example.com"))
    full, risks, original, share = article_buttons(renderer, linked, "zh")
    assert (full.label, full.callback_data) == ("📖 全文", "full:3")
    assert (risks.label, risks.callback_data) == ("⚠️ 风险", "risks:3")
    assert (original.label, original.url) == ("🔗 原文", "https://example.com")
    assert (share.label, share.switch_inline_query) == ("↗️ 分享", "#3")


@pytest.mark.parametrize(
    ("data", "parsed"),
    [
        ("full:3", ("full", (3,))),
        ("list:2:0", ("list", (2, 0))),
        ("noop", ("noop", ())),
        ("full:x", None),
        ("full:-1", None),
        (":1", None),
        ("full:" + "9" * 40, None),
        ("full:²", None),
        ("full:①", None),
        ("full:٣", None),
        ("full:2147483647", ("full", (2147483647,))),
        ("full:2147483648", None),
        ("full:3:", None),
    ],
)
def test_callback_data_round_trips_and_rejects_forgeries(
    data: str, parsed: tuple[str, tuple[int, ...]] | None
) -> None:
    assert parse_callback(data) == parsed
    if parsed is not None:
        assert callback(parsed[0], *parsed[1]) == data


# -- DigestCache ----------------------------------------------------------------------------


class CountingRenderer(Renderer):
    """The bundled templates, counting how often a template is rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.renders = 0

    def render(self, name: str, lang: Lang, /, **context: object) -> str:
        self.renders += 1
        return super().render(name, lang, **context)


@pytest.mark.parametrize("part", PARTS)
def test_cache_gives_what_render_part_gives_and_renders_each_part_once(part: str) -> None:
    renderer = CountingRenderer()
    cache = DigestCache(renderer)
    first = cache.part(HOSTILE, part, "zh")  # type: ignore[arg-type]
    # An equal article read again from the store is a different object: still a hit.
    again = cache.part(replace(HOSTILE), part, "zh")  # type: ignore[arg-type]
    assert first == tuple(render_part(Renderer(), HOSTILE, part, "zh"))  # type: ignore[arg-type]
    assert again is first
    assert renderer.renders == 1
    english = cache.part(HOSTILE, part, "en")  # type: ignore[arg-type]
    assert english == tuple(render_part(Renderer(), HOSTILE, part, "en"))  # type: ignore[arg-type]
    assert renderer.renders == 2  # each language is its own entry


def test_cache_never_serves_the_old_text_of_a_changed_article() -> None:
    renderer = CountingRenderer()
    cache = DigestCache(renderer)
    old_digest = cache.part(HOSTILE, "digest", "en")
    old_full = cache.part(HOSTILE, "full", "en")
    retitled = replace(HOSTILE, article=replace(HOSTILE.article, title="A new title"))
    new_digest = cache.part(retitled, "digest", "en")
    assert "A new title" in new_digest[0]
    assert "A new title" not in old_digest[0]
    rewritten = replace(HOSTILE, article=replace(HOSTILE.article, body="Brand new body."))
    assert "Brand new body." in cache.part(rewritten, "full", "en")[-1]
    assert old_full != cache.part(rewritten, "full", "en")
    # Going back to the first version renders it again, never a mix of the two.
    assert cache.part(HOSTILE, "digest", "en") == old_digest
    assert renderer.renders == 5  # 2 + the 2 changed versions + the first one again


def test_cached_buttons_follow_a_changed_link() -> None:
    cache = DigestCache(Renderer())
    assert cache.buttons(HOSTILE, "zh") == article_buttons(Renderer(), HOSTILE, "zh")
    assert len(cache.buttons(HOSTILE, "zh")) == 3  # 📖 ⚠️ ↗️: javascript: gets no 🔗 button
    linked = replace(HOSTILE, article=replace(HOSTILE.article, url="https://example.com/x"))
    *_, original, _share = cache.buttons(linked, "zh")
    assert original.url == "https://example.com/x"
    assert cache.buttons(HOSTILE, "en")[0].label == "📖 Full text"


def test_cache_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    renderer = CountingRenderer()
    cache = DigestCache(renderer, size=2)
    articles = [replace(HOSTILE, id=i) for i in range(3)]
    cache.part(articles[0], "risks", "en")
    cache.part(articles[1], "risks", "en")
    cache.part(articles[0], "risks", "en")  # 0 is now the most recently used
    cache.part(articles[2], "risks", "en")  # drops 1
    assert len(cache) == 2
    assert renderer.renders == 3
    cache.part(articles[0], "risks", "en")
    assert renderer.renders == 3
    cache.part(articles[1], "risks", "en")
    assert renderer.renders == 4
