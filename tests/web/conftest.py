"""Fixtures for the web reader: a runtime on SQLite with the bundled seeds, served on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import Settings
from bot.readlog import ReadLog
from bot.runtime import Runtime
from bot.web.access import link_key, sign_path
from bot.web.app import ReaderSite, access_for
from tests.migrated import migrated_sqlite

TOKEN = "123456789:AAE-web-reader-test-token_0123456789"  # noqa: S105 -- a fake token
WEB_URL = "https://read.example.org"


def reader_settings(tmp_path: Path, seeds_dir: Path, **values: object) -> Settings:
    """Settings for a reader over SQLite in tmp_path (at head), signing links with TOKEN."""
    database = tmp_path / "reader.sqlite3"
    url = f"sqlite:///{database}" if database.exists() else migrated_sqlite(database)
    fields: dict[str, object] = {
        "telegram_bot_token": TOKEN,
        "database_url": url,
        "seeds_dir": seeds_dir,
        "web_url": WEB_URL,
        "_env_file": None,
        **values,
    }
    return Settings(**fields)  # type: ignore[arg-type]


@dataclass
class Served:
    """A running reader: its loopback base URL, site, runtime and read log."""

    base: str
    site: ReaderSite
    runtime: Runtime
    reads: ReadLog

    def signed(self, path: str, expiry: int | None = None) -> str:
        """Return the loopback URL of `path` with a good token (expiring in a day by default)."""
        expiry = int(time.time()) + 86400 if expiry is None else expiry
        return f"{self.base}{path}?t={sign_path(link_key(TOKEN), path, expiry)}"


@pytest.fixture
def runtime(tmp_path: Path, seeds_dir: Path) -> Iterator[Runtime]:
    """An open runtime with the bundled seeds imported."""
    rt = Runtime.open(reader_settings(tmp_path, seeds_dir))
    rt.sync()
    yield rt
    rt.close()


async def serve(runtime: Runtime, site: ReaderSite) -> AsyncIterator[Served]:
    """Serve `site` on 127.0.0.1 at a free port until the generator closes."""
    app = web.Application()
    site.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Served(f"http://127.0.0.1:{port}", site, runtime, site.reads)
    finally:
        await runner.cleanup()


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[Served]:
    """The reader over `runtime`, links signed with TOKEN, served on loopback."""
    site = ReaderSite(ReadLog(runtime.store), runtime.renderer, access_for(runtime.settings))
    async for value in serve(runtime, site):
        yield value


HOSTILE = """---
title: "<script>alert(1)</script><img src=x onerror=alert(2)>"
date: 2030-01-01
author: "<b onmouseover=alert(3)>Eve</b>"
source: "</title><script>alert(4)</script>"
url: "javascript:alert(5)"
tags: ["<svg onload=alert(6)>", "x\\"><script>alert(7)</script>"]
---

## Summary

### One-line summary
<iframe src="javascript:alert(8)"></iframe>

### Key points
- **<a href="javascript:alert(9)">label</a>**: <img src=x onerror="window.pwned=1">

### Risks
- </details><script>alert(10)</script>

## Full text

<script>alert(11)</script>

<img src=x onerror="alert(12)">

[click](javascript:alert(13)) <a href="javascript:alert(14)">here</a> {{ 7*7 }} {% raw %}

</p></section></article><script>window.pwned=2</script>
"""


def add_hostile(runtime: Runtime) -> int:
    """Import the hostile-HTML article into the runtime's seeds; return its id."""
    (runtime.settings.seeds_dir / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    runtime.sync()
    found = runtime.store.get_article_by_slug("hostile")
    assert found is not None
    return found.id


def reference_paragraphs(runtime: Runtime) -> list[str]:
    """Return the bundled article's full-text paragraphs, in order."""
    found = runtime.store.get_article(1)
    assert found is not None
    return [p for p in found.article.body.split("\n\n") if p.strip()]
