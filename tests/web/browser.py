"""Drive Debian's Chromium headless over the Chrome DevTools Protocol (aiohttp websocket).

Just enough CDP for the reader's tests: open a page at a phone's size, light or dark, evaluate
JavaScript, take a screenshot, and notice any dialog (an alert would mean injected script ran).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--remote-debugging-port=0",
)
_DRAINS: set[asyncio.Future[None]] = set()
_LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")


def chromium_missing() -> str | None:
    """Return why browser tests cannot run here, or None when Chromium is installed."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (CI installs Debian's chromium; apt-get install chromium)"
    return None


class Page:
    """One tab, addressed by its CDP session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.dialogs: list[str] = []
        self._loaded = asyncio.Event()
        self._tasks: set[asyncio.Future[Any]] = set()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command to this tab and return its result."""
        return await self.browser.send(method, params, session=self.session)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        """Record what the tests look at: loads and dialogs (dismissed at once)."""
        if method == "Page.loadEventFired":
            self._loaded.set()
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(str(params.get("message", "")))
            task = asyncio.ensure_future(self.send("Page.handleJavaScriptDialog", accept=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def goto(self, url: str) -> None:
        """Navigate and wait (up to 20 s) for the load event."""
        self._loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self._loaded.wait(), 20)

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (awaiting a promise) and return its JSON value."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str) -> Any:
        """Poll a JavaScript expression until it is truthy (up to 10 s); return its value."""
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            with contextlib.suppress(AssertionError):
                value = await self.evaluate(expression)
                if value:
                    return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"never true: {expression}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path: Path) -> None:
        """Save a PNG of the viewport."""
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


class Browser:
    """A headless Chromium process and one websocket to its DevTools endpoint."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        """Send one CDP command and wait for its answer."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self._ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def _read(self) -> None:
        async for msg in self._ws:
            data = json.loads(msg.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(AssertionError(f"CDP: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
            elif (page := self._pages.get(data.get("sessionId", ""))) is not None:
                page.on_event(data["method"], data.get("params", {}))

    async def new_page(
        self, *, width: int = 390, height: int = 844, dark: bool = False, javascript: bool = True
    ) -> Page:
        """Open a tab at a phone's size, in light or dark colours."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[page.session] = page
        await page.send("Page.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2,
            mobile=True,
        )
        scheme = "dark" if dark else "light"
        await page.send(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )
        if not javascript:
            await page.send("Emulation.setScriptExecutionDisabled", value=True)
        return page

    @classmethod
    @contextlib.asynccontextmanager
    async def launched(cls) -> AsyncIterator[Browser]:
        """Start Chromium headless with a throwaway profile; kill it on exit."""
        browser = cls()
        profile = tempfile.mkdtemp(prefix="digestbot-chromium-")
        process = await asyncio.create_subprocess_exec(
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        session = aiohttp.ClientSession()
        try:
            assert process.stderr is not None
            url = await asyncio.wait_for(_endpoint(process.stderr), 30)
            browser._ws = await session.ws_connect(url, max_msg_size=0)
            reader = asyncio.ensure_future(browser._read())
            try:
                yield browser
            finally:
                reader.cancel()
                await browser._ws.close()
        finally:
            await session.close()
            if process.returncode is None:
                process.kill()
            await process.wait()
            shutil.rmtree(profile, ignore_errors=True)


async def _endpoint(stderr: asyncio.StreamReader) -> str:
    while line := await stderr.readline():
        found = _LISTENING.search(line)
        if found:
            # Keep draining stderr so Chromium never blocks on a full pipe.
            _DRAINS.add(drain := asyncio.ensure_future(_drain(stderr)))
            drain.add_done_callback(_DRAINS.discard)
            return found[1].decode()
    raise RuntimeError("Chromium exited before its DevTools endpoint was up")


async def _drain(stderr: asyncio.StreamReader) -> None:
    while await stderr.read(65536):
        pass
