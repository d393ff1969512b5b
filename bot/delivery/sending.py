"""Sending one claimed row: render its article once per language, send, settle the outcome."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.delivery.messages import Outcome, OutgoingMessage, SendResult
from bot.delivery.reports import PushProgress
from bot.delivery.state import PushState
from bot.digest import article_buttons, render_part
from bot.errors import DigestError
from bot.i18n import DEFAULT_LANG, Lang, is_lang
from bot.model import Claim

# The package's logger, as before the split into modules (log lines name "bot.delivery").
log = logging.getLogger(__package__)


class SendingMixin(PushState):
    """The push engine's per-row work: prepare, deliver, settle."""

    async def _prepare(self, claims: list[Claim]) -> None:
        """Load and render every (article, language) of a batch not rendered yet this run."""
        missing = sorted({c.article_id for c in claims} - self.articles.keys())
        if missing:
            found = await asyncio.to_thread(self.store.get_articles, missing)
            for article_id in missing:
                self.articles[article_id] = found.get(article_id)
        for claim in claims:
            key = (claim.article_id, _lang(claim.language))
            if key in self.prepared:
                continue
            stored = self.articles.get(claim.article_id)
            if stored is None or stored.hidden:
                self.prepared[key] = None
                continue
            parts = render_part(self.renderer, stored, "digest", key[1])
            if len(parts) > 1:
                log.warning("digest %d is %d messages; pushing the first", key[0], len(parts))
            self.renders += 1
            self.prepared[key] = (parts[0], article_buttons(self.renderer, stored, key[1]))

    async def _deliver(self, claim: Claim) -> None:
        prepared = self.prepared.get((claim.article_id, _lang(claim.language)))
        if prepared is None:
            self._fail(claim, "article hidden or deleted")
            self._report()
            return
        html, buttons = prepared
        chat_id = claim.chat_id
        for hop in range(2):  # a second pass only after a group migration
            message = OutgoingMessage(
                chat_id, claim.chat_type, html, buttons, paid=self.options.paid_broadcast
            )
            try:
                result = await self.sender.send(message)
            except (asyncio.CancelledError, DigestError):
                raise  # a DigestError means no message can go out: stop the push
            except Exception as exc:  # a broken sender must not kill the push
                log.exception("sender raised for chat %d", chat_id)
                result = SendResult(Outcome.RETRY, error=f"{type(exc).__name__}: {exc}")
            if result.outcome is Outcome.MIGRATED and result.new_chat_id and hop == 0:
                if await asyncio.to_thread(self._migrate, claim, result.new_chat_id):
                    chat_id = result.new_chat_id
                    continue
                self._block(claim, f"migrated to chat {result.new_chat_id}, already subscribed")
                self._report()
                return
            self._settle(claim, result)
            return

    def _migrate(self, claim: Claim, new_chat_id: int) -> bool:
        """Move the subscriber to its supergroup; False when that chat is subscribed already."""
        existing = self.store.get_subscriber(new_chat_id)
        if existing is not None and existing.id != claim.subscriber_id:
            return False
        self.store.migrate_chat(claim.chat_id, new_chat_id)
        return True

    def _settle(self, claim: Claim, result: SendResult) -> None:
        outcome = result.outcome
        if outcome is Outcome.SENT:
            self.outcomes.sent.append((claim.delivery_id, result.message_id))
            self.sent += 1
        elif outcome is Outcome.RETRY:
            self._retry(claim, result)
        elif outcome is Outcome.BLOCKED:
            self._block(claim, result.error or "chat unavailable")
        else:  # FAILED, or a migration without a target
            self._fail(claim, result.error or outcome.value)
        self._report()

    def _retry(self, claim: Claim, result: SendResult) -> None:
        opts = self.options
        reason = result.error or "transient error"
        if result.retry_after is not None:
            # Flood control is not the message's fault: wait it out, never give up on it.
            delay = timedelta(seconds=result.retry_after)
            self.outcomes.retries.append((claim.delivery_id, opts.clock() + delay, reason, False))
            self.retried += 1
            return
        attempts = claim.attempts + 1
        if attempts >= opts.max_attempts:
            self._fail(claim, f"gave up after {attempts} attempts: {reason}")
            return
        delay = min(opts.backoff * 2 ** (attempts - 1), opts.max_backoff)
        self.outcomes.retries.append((claim.delivery_id, opts.clock() + delay, reason, True))
        self.retried += 1

    def _block(self, claim: Claim, reason: str) -> None:
        text = f"blocked: {reason}"
        self.outcomes.failed.append((claim.delivery_id, text))
        self.outcomes.deactivate.append((claim.subscriber_id, text))
        self.blocked += 1

    def _fail(self, claim: Claim, reason: str) -> None:
        self.outcomes.failed.append((claim.delivery_id, reason))
        self.failed += 1

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(
                PushProgress(
                    total=max(self.total, self.sent + self.failed + self.blocked),
                    sent=self.sent,
                    failed=self.failed,
                    blocked=self.blocked,
                    retried=self.retried,
                )
            )


def _lang(value: str) -> Lang:
    return value if is_lang(value) else DEFAULT_LANG
