"""The reader in a real browser: Debian's Chromium, headless, driven over DevTools."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from bot.db.tables import READS
from bot.web.access import sign_init_data

from .browser import Browser, Chromium, Page, chromium_missing
from .conftest import TOKEN, Served, add_hostile, reference_paragraphs

pytestmark = [
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
    pytest.mark.xdist_group("chromium"),  # one worker, one Chromium for the module
]

# WCAG 2.x relative luminance and contrast, computed in the page from computed styles; the
# background is the first opaque one up the tree. Returns the elements below AA (4.5:1).
CONTRAST = """
(() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  let checked = 0;
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest("script,style")) continue;
    const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    checked += 1;
    if (ratio < 4.5) bad.push([el.tagName, el.className, ratio.toFixed(2)]);
  }
  return {checked, bad};
})()
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    process = Chromium()
    yield process
    process.close()


@pytest.fixture
async def browser(chromium: Chromium) -> AsyncIterator[Browser]:
    async with Browser.connected(chromium) as b:
        yield b


async def test_every_paragraph_is_shown_in_order_even_without_javascript(
    served: Served, browser: Browser
) -> None:
    page = await browser.new_page(javascript=False)
    await page.goto(served.signed("/a/1"))
    shown = await page.evaluate(
        "[...document.querySelectorAll('section.text p')].map(p => p.textContent)"
    )
    assert shown == reference_paragraphs(served.runtime)
    assert await page.evaluate("document.documentElement.lang") == "zh"


async def test_hostile_html_executes_nothing_and_injects_no_element(
    served: Served, browser: Browser
) -> None:
    ident = add_hostile(served.runtime)
    page = await browser.new_page()
    await page.goto(served.signed(f"/a/{ident}"))
    await page.evaluate("new Promise(r => setTimeout(r, 300))")  # let any onerror fire
    assert page.dialogs == []
    found = await page.evaluate(
        """({
          pwned: window.pwned === undefined ? null : window.pwned,
          scripts: document.scripts.length,
          injected: document.querySelectorAll('img,iframe,svg,b,script:not([nonce])').length,
          js: [...document.links].filter(a => a.protocol === 'javascript:').length,
          title: document.querySelector('h1').textContent,
        })"""
    )
    assert found == {
        "pwned": None,
        "scripts": 1,
        "injected": 0,
        "js": 0,
        "title": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    }


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
async def test_a_phone_sees_no_horizontal_scroll_and_aa_contrast(
    served: Served, browser: Browser, dark: bool, tmp_path: Path
) -> None:
    for path in ("/a/1", "/"):
        page = await browser.new_page(dark=dark)
        await page.goto(served.signed(path))
        widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], path
        assert widths[1] == 390
        contrast = await page.evaluate(CONTRAST)
        assert contrast["checked"] > 5
        assert contrast["bad"] == [], path
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(20, 20, 20)" if dark else "rgb(255, 255, 255)")
        await page.screenshot(tmp_path / f"{path.strip('/').replace('/', '-') or 'archive'}.png")


def init_data(user_id: int) -> str:
    fields = {
        "user": json.dumps({"id": user_id, "first_name": "Ann", "language_code": "zh"}),
        "auth_date": str(int(time.time())),
    }
    return urlencode({**fields, "hash": sign_init_data(TOKEN, fields)})


def mini_app_fragment(data: str) -> str:
    theme = json.dumps({"bg_color": "#102030", "text_color": "#f0f0f0", "link_color": "#80c0ff"})
    return f"#tgWebAppData={quote(data)}&tgWebAppVersion=8.0&tgWebAppThemeParams={quote(theme)}"


async def reader_ids(served: Served) -> set[int]:
    with served.runtime.store.engine.connect() as c:
        return {row.reader for row in c.execute(READS.select())}


async def wait_reader(page: Page, served: Served, user_id: int) -> None:
    for _ in range(200):
        if user_id in await reader_ids(served):
            return
        await page.evaluate("new Promise(r => setTimeout(r, 25))")
    raise AssertionError(f"the Mini App open of user {user_id} was never counted")


async def test_inside_telegram_the_theme_applies_and_the_open_counts(
    served: Served, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(served.signed("/a/1") + mini_app_fragment(init_data(501)))
    await wait_reader(page, served, 501)
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == (
        "rgb(16, 32, 48)"
    )


async def test_a_mini_app_without_a_link_is_let_in_by_its_init_data(
    served: Served, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(f"{served.base}/a/1" + mini_app_fragment(init_data(502)))
    await page.wait_for(
        "location.search.startsWith('?t=') && !!document.querySelector('section.text')"
    )
    assert 502 in await reader_ids(served)


async def test_forged_init_data_leaves_the_403_page(served: Served, browser: Browser) -> None:
    page = await browser.new_page()
    forged = init_data(503).replace("hash=", "hash=0")
    await page.goto(f"{served.base}/a/1" + mini_app_fragment(forged))
    await page.evaluate("new Promise(r => setTimeout(r, 500))")
    assert await page.evaluate("location.search") == ""
    assert await page.evaluate("!!document.querySelector('section.text')") is False
    assert 503 not in await reader_ids(served)
