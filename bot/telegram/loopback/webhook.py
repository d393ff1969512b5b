"""The webhook: setWebhook, deleteWebhook, getWebhookInfo and the delivery of updates."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import aiohttp

from bot.telegram.loopback.params import as_bool, as_int, as_json, as_str, bad_request, dumps
from bot.telegram.loopback.state import Webhook
from bot.telegram.loopback.updates import UpdatesMixin

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class WebhookMixin(UpdatesMixin):
    """Keep the webhook the bot set and POST it the queued updates, as Telegram does."""

    def _set_webhook(self, params: dict[str, Any]) -> str:
        url = as_str(params, "url") or ""
        if as_bool(params, "drop_pending_updates"):
            self._updates.clear()
        if not url:
            self._remove_webhook()
            return "true"
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = as_str(params, "secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        allowed, _ = as_json(params, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(map(str, allowed)) or None
        self._webhook = Webhook(url, secret, as_int(params, "max_connections", 40))
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver())
        self._wake_updates()  # a poll still waiting must end with 409
        return "true"

    def _remove_webhook(self) -> None:
        self._webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None

    def _delete_webhook(self, params: dict[str, Any]) -> str:
        if as_bool(params, "drop_pending_updates"):
            self._updates.clear()
        self._remove_webhook()
        return "true"

    def _get_webhook_info(self, _params: dict[str, Any]) -> str:
        hook = self._webhook
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
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        return dumps(info)

    async def _deliver(self) -> None:
        """POST queued updates to the webhook one by one, retrying failures with backoff."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        backoff = 0.05
        while self._webhook is not None and not self._closing:
            hook = self._webhook
            batch = self._batch(1)
            if not batch:
                event = self._update_event
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await event.wait()
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
                if self._updates and self._updates[0][0] == update_id:
                    self._updates.popleft()
                self._last_activity = time.monotonic()
                backoff = 0.05
            else:
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
