"""The push engine: plan a run in the ledger, then claim, render and send it with bounded memory.

A fixed pool of `concurrency` worker coroutines pulls claimed rows from a bounded queue, so
neither tasks nor objects grow with the number of subscribers. Each (article, language) is
rendered once per run. Outcomes go back to the ledger in batches. The engine knows nothing
about Telegram: a `Sender` (bot.telegram.sender in production, a fake in tests) turns an
`OutgoingMessage` into a `SendResult`, pacing and mapping Bot API errors itself.

Guarantee: a row is sent only by the worker holding its claim, and marked sent shortly
after (results are written back in batches of `flush_every`). A semaphore keeps sends in
flight plus results not yet written at most concurrency + flush_every. If the process
dies, its `sending` rows are claimed again once their lease expires, so nothing is lost;
only those in-flight or unrecorded messages (at most concurrency + flush_every) can repeat.

The modules: `messages` (the Sender contract), `options` (PushOptions, the run key),
`reports` (progress and the report), `run` (run_push), `engine` (the Push and its task
loops) built from `state`, `sending` (one row: render, send, settle) and `flushing`
(outcomes back to the ledger).
"""

from __future__ import annotations

from bot.delivery.messages import Outcome, OutgoingMessage, Sender, SendResult
from bot.delivery.options import PushOptions, default_worker_id, push_defaults, run_key
from bot.delivery.reports import PushProgress, PushReport
from bot.delivery.run import run_push

__all__ = [
    "Outcome",
    "OutgoingMessage",
    "PushOptions",
    "PushProgress",
    "PushReport",
    "SendResult",
    "Sender",
    "default_worker_id",
    "push_defaults",
    "run_key",
    "run_push",
]
