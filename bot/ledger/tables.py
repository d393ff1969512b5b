"""The ledger's tables and row states: one `deliveries` row per (subscriber, article)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from bot.models import ArticleRow, DeliveryRow, PushRunRow, SubscriberRow

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
BLOCKED_PREFIX = "blocked"  # failed rows whose chat is gone; counted apart from failures

D = cast(Table, DeliveryRow.__table__)
S = cast(Table, SubscriberRow.__table__)
R = cast(Table, PushRunRow.__table__)
A = cast(Table, ArticleRow.__table__)
