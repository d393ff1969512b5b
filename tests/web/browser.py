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
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

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
        self._targets: list[str] = []

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
        self._targets.append(target["targetId"])
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
    async def connected(cls, chromium: Chromium) -> AsyncIterator[Browser]:
        """Talk to a running Chromium; close the tabs opened through it on exit."""
        browser = cls()
        async with aiohttp.ClientSession() as session:
            browser._ws = await session.ws_connect(chromium.endpoint, max_msg_size=0)
            reader = asyncio.ensure_future(browser._read())
            targets: list[str] = []
            browser._targets = targets
            try:
                yield browser
            finally:
                for target in targets:
                    with contextlib.suppress(AssertionError, TimeoutError):
                        await browser.send("Target.closeTarget", {"targetId": target})
                reader.cancel()
                await browser._ws.close()


class Chromium:
    """A headless Chromium process with a throwaway profile, shared by a module's tests.

    Starting Chromium takes seconds; a tab takes milliseconds. Each test connects its own
    `Browser` to the one process and opens its own tabs.
    """

    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="digestbot-chromium-")
        self._process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self._process.stderr is not None
        self.endpoint = _endpoint(self._process.stderr)
        # Keep draining stderr so Chromium never blocks on a full pipe.
        self._drain = threading.Thread(target=_drain, args=(self._process.stderr,), daemon=True)
        self._drain.start()

    def close(self) -> None:
        """Kill the process and remove its profile."""
        self._process.kill()
        self._process.wait()
        self._drain.join(10)
        assert self._process.stderr is not None
        self._process.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)


def _endpoint(stderr: IO[bytes]) -> str:
    while line := stderr.readline():
        found = _LISTENING.search(line)
        if found:
            return found[1].decode()
    raise RuntimeError("Chromium exited before its DevTools endpoint was up")


def _drain(stderr: IO[bytes]) -> None:
    while stderr.read(65536):
        pass
