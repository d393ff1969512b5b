"""Telegram transport: the only package that imports telegram."""

import os

# PTB 22 warns on every 429 unless RetryAfter.retry_after is a timedelta, the type PTB moves
# to; we opt in (bot.telegram.pacer.retry_after_seconds reads either form). setdefault keeps
# an explicit choice made by whoever runs the bot.
os.environ.setdefault("PTB_TIMEDELTA", "1")
