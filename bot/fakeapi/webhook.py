"""The webhook: setWebhook, deleteWebhook, getWebhookInfo and the delivery of updates."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.fakeapi.params import as_bool, as_int, as_str, bad_request, dumps
from bot.fakeapi.updates import UpdateQueue

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(slots=True)
class Webhook:
    """The webhook the bot set, with Telegram's delivery bookkeeping."""

    url: str
    secret: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class WebhookDelivery:
    """Keep the webhook the bot set and POST it the queued updates, as Telegram does."""

    def __init__(self, updates: UpdateQueue) -> None:
        self._updates = updates
        self._hook: Webhook | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: aiohttp.ClientSession | None = None

    def set_webhook(self, params: dict[str, Any]) -> str:
        """Start delivering updates to a URL: setWebhook (an empty URL removes the webhook)."""
        url = as_str(params, "url") or ""
        if as_bool(params, "drop_pending_updates"):
            self._updates.clear()
        if not url:
            self._remove()
            return "true"
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = as_str(params, "secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        self._updates.allow(params)
        self._hook = Webhook(url, secret, as_int(params, "max_connections", 40))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._deliver())
        self._updates.use_webhook()
        return "true"

    def delete_webhook(self, params: dict[str, Any]) -> str:
        """Stop delivering to the webhook: deleteWebhook."""
        if as_bool(params, "drop_pending_updates"):
            self._updates.clear()
        self._remove()
        return "true"

    def get_webhook_info(self, _params: dict[str, Any]) -> str:
        """Describe the webhook and its last error: getWebhookInfo."""
        hook = self._hook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            if self._updates.allowed is not None:
                info["allowed_updates"] = sorted(self._updates.allowed)
        return dumps(info)

    async def close(self) -> None:
        """Stop delivering and close the HTTP client."""
        task = self._task
        self._remove()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _remove(self) -> None:
        self._hook = None
        self._updates.use_polling()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _deliver(self) -> None:
        """POST queued updates to the webhook one by one, retrying failures with backoff."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        backoff = 0.05
        while self._hook is not None:
            hook = self._hook
            batch = self._updates.head(1)
            if not batch:
                await self._updates.wait(1.0)
                continue
            update_id, kind, payload = batch[0]
            headers = {"Content-Type": "application/json"}
            if hook.secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret
            error = None
            try:
                async with self._client.post(
                    hook.url,
                    data=dumps({"update_id": update_id, kind: payload}).encode(),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    await resp.read()
                    if not 200 <= resp.status < 300:
                        error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {exc.__class__.__name__}"
            if error is None:
                self._updates.delivered(update_id)
                backoff = 0.05
            else:
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
