"""The reader over HTTP: access, bad ids, the archive, read counting, page weight."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.db import articles
from bot.i18n import LANGS
from bot.readlog import ReadLog
from bot.web.access import sign_init_data
from bot.web.app import ReaderSite, access_for

from .conftest import TOKEN, Served, add_hostile, reference_paragraphs, serve

PAGE_BUDGET = 60 * 1024  # bytes of a page before the article's own text


def init_data(user_id: int = 77, auth_date: int | None = None, token: str = TOKEN) -> str:
    fields = {
        "user": json.dumps({"id": user_id, "first_name": "Ann"}),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }
    return urlencode({**fields, "hash": sign_init_data(token, fields)})


async def get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        return r.status, await r.text(), dict(r.headers)


async def post(url: str, body: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as r:
        return r.status, await r.json()


async def test_a_signed_link_opens_the_article(served: Served) -> None:
    status, html, headers = await get(served.signed("/a/1"))
    assert status == 200
    assert '<html lang="zh"' in html
    assert "script-src 'nonce-" in headers["Content-Security-Policy"]
    await served.site.flush()
    assert served.reads.rates()[0].opens == 1


async def test_tampered_expired_or_missing_links_get_a_friendly_403(served: Served) -> None:
    good = served.signed("/a/1")
    for url in (
        good[:-1] + ("0" if good[-1] != "0" else "1"),
        served.signed("/a/1", expiry=int(time.time()) - 1),
        served.base + "/a/1?t=" + served.signed("/a/2").split("?t=")[1],  # /a/2 token
        served.base + "/a/1",
        served.base + "/",
    ):
        status, html, _ = await get(url)
        assert status == 403, url
        assert "Traceback" not in html
        assert "<h1>" in html
    await served.site.flush()
    assert served.reads.rates() == []


@pytest.mark.parametrize(
    "ident", ["abc", "%C2%B2", "99999999999999999999999", "0", "-1", "1.0", "%EF%BC%91", "9999"]
)
async def test_bad_ids_get_the_404_page_never_a_500(served: Served, ident: str) -> None:
    status, html, _ = await get(f"{served.base}/a/{ident}")
    assert status == 404 or (status == 403 and ident in {"0", "9999"})
    signed_status, _, _ = await get(served.signed(f"/a/{ident}"))
    assert signed_status == 404
    assert "Traceback" not in html


async def test_unknown_paths_get_the_404_page(served: Served) -> None:
    status, html, _ = await get(served.base + "/nowhere/at/all")
    assert status == 404
    assert "<h1>" in html


async def test_every_paragraph_is_on_the_page_in_order(served: Served) -> None:
    _, html, _ = await get(served.signed("/a/1"))
    position = 0
    for paragraph in reference_paragraphs(served.runtime):
        found = html.find(f"<p>{paragraph}</p>", position)
        assert found > position, paragraph[:40]
        position = found


async def test_the_page_weighs_under_60_kb_before_the_article_text(served: Served) -> None:
    _, html, _ = await get(served.signed("/a/1"))
    stored = served.runtime.store.get_article(1)
    assert stored is not None
    article = stored.article
    own = [article.title, article.one_line, article.body, *article.tags]
    own += [p.label + p.text for p in (*article.points, *article.risks)]
    text_bytes = sum(len(t.encode()) for t in own)
    assert len(html.encode()) - text_bytes < PAGE_BUDGET


async def test_hostile_html_stays_text(served: Served) -> None:
    ident = add_hostile(served.runtime)
    status, html, _ = await get(served.signed(f"/a/{ident}"))
    assert status == 200
    assert html.count("<script") == 1  # the page's own
    assert "<img" not in html
    assert "<iframe" not in html
    assert 'href="javascript' not in html.lower()
    assert "&lt;script&gt;alert(11)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html


async def test_the_archive_lists_newest_first_and_filters(served: Served) -> None:
    ident = add_hostile(served.runtime)
    status, html, _ = await get(served.signed("/"))
    assert status == 200
    assert html.index(f"/a/{ident}?t=") < html.index("/a/1?t=")
    token = served.signed("/").split("?t=")[1]
    _, found, _ = await get(f"{served.base}/?q=%E7%84%A6%E8%99%91&t={token}")  # 焦虑
    assert "/a/1?t=" in found
    assert f"/a/{ident}?" not in found
    _, none, _ = await get(f"{served.base}/?q=zzzqqq&t={token}")
    assert "/a/1?" not in none
    tag = served.runtime.store.get_article(1).article.tags[0]  # type: ignore[union-attr]
    _, topic, _ = await get(f"{served.base}/?{urlencode({'topic': tag, 't': token})}")
    assert "/a/1?t=" in topic
    assert f"/a/{ident}?" not in topic


async def test_previous_and_next_link_the_neighbours(served: Served) -> None:
    ident = add_hostile(served.runtime)  # dated 2030: newer than the bundled article
    _, html, _ = await get(served.signed("/a/1"))
    assert re.search(rf'rel="next" href="/a/{ident}\?t=', html)
    _, newest, _ = await get(served.signed(f"/a/{ident}"))
    assert re.search(r'rel="prev" href="/a/1\?t=', newest)
    assert 'rel="next"' not in newest


async def test_a_verified_mini_app_open_counts_for_its_user(served: Served) -> None:
    status, answer = await post(f"{served.base}/a/1/read", init_data(user_id=77))
    assert status == 200
    href = str(answer["href"])
    assert href.startswith("/a/1?t=")
    assert (await get(served.base + href))[0] == 200
    await served.site.flush()
    from bot.db import reads  # noqa: PLC0415

    with served.runtime.store.engine.connect() as c:
        rows = c.execute(reads.READS.select()).all()
    assert {(r.article_id, r.reader) for r in rows} == {(1, 77), (1, 0)}


async def test_init_data_with_a_wrong_hash_or_age_gets_403(served: Served) -> None:
    for body in (
        init_data(token=TOKEN + "x"),
        init_data().replace("hash=", "hash=f"),
        init_data(auth_date=int(time.time()) - 3 * 86400),
        "",
    ):
        status, answer = await post(f"{served.base}/a/1/read", body)
        assert status == 403
        assert answer == {"ok": False}
    assert served.reads.rates() == []


async def test_web_public_opens_every_page_without_a_token(tmp_path, seeds_dir) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime  # noqa: PLC0415

    from .conftest import reader_settings  # noqa: PLC0415

    rt = Runtime.open(reader_settings(tmp_path, seeds_dir, web_public=True))
    rt.sync()
    site = ReaderSite(ReadLog(rt.store), rt.renderer, access_for(rt.settings))
    try:
        async for served in serve(rt, site):
            status, html, _ = await get(served.base + "/a/1")
            assert status == 200
            assert "?t=" not in html
            assert (await get(served.base + "/"))[0] == 200
    finally:
        rt.close()


def test_the_reader_mounts_beside_the_webhook_only_with_web_url(served: Served) -> None:
    from aiohttp import web  # noqa: PLC0415

    from bot.web.app import mount_reader  # noqa: PLC0415

    app = web.Application()
    assert mount_reader(app, served.runtime)
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {"/", "/a/{id}", "/a/{id}/read"} <= paths
    plain = served.runtime.settings.model_copy(update={"web_url": None})
    from dataclasses import replace  # noqa: PLC0415

    assert not mount_reader(web.Application(), replace(served.runtime, settings=plain))


def _zebra_article(slug: str, day: str, mentions: int, tag: str) -> str:
    text = " ".join(["zebrafish swim"] * mentions + ["other words"] * 40)
    return f"""---
title: "{slug}"
date: {day}
tags: ["{tag}"]
---

## Summary

### One-line summary
{slug} line.

## Full text

{text}
"""


async def test_the_archive_search_is_the_bots_search_ranked_and_filtered(served: Served) -> None:
    """The search box asks what /search asks: most relevant first, not newest first."""
    seeds = served.runtime.settings.seeds_dir
    (seeds / "zebra-old.md").write_text(_zebra_article("zebra-old", "2020-01-01", 6, "lab"))
    (seeds / "zebra-new.md").write_text(_zebra_article("zebra-new", "2031-01-01", 1, "sea"))
    served.runtime.sync()
    store = served.runtime.store
    old, new = (store.get_article_by_slug(s) for s in ("zebra-old", "zebra-new"))
    assert old is not None
    assert new is not None
    assert [h.stored.id for h in store.search_articles(["Zebrafish"])] == [old.id, new.id]
    token = served.signed("/").split("?t=")[1]
    _, ranked, _ = await get(f"{served.base}/?q=Zebrafish&t={token}")
    assert f"/a/{old.id}?t=" in ranked
    assert ranked.index(f"/a/{old.id}?t=") < ranked.index(f"/a/{new.id}?t=")
    _, topic, _ = await get(f"{served.base}/?q=zebrafish&topic=sea&t={token}")
    assert f"/a/{new.id}?t=" in topic
    assert f"/a/{old.id}?" not in topic
    _, short, _ = await get(f"{served.base}/?q=%E7%84%A6%E8%99%91&t={token}")  # 焦虑: 2 characters
    # Searched only the newest SHORT_REACH, and the page says so (the sentence, not the number:
    # a link's signature may hold those digits).
    renderer = served.runtime.renderer
    hints = {renderer.text("search_reach", lang, reach=articles.SHORT_REACH) for lang in LANGS}
    assert any(hint in short for hint in hints)
    assert not any(hint in ranked for hint in hints)
