"""A channel subscriber's states in the store (SQLite and PostgreSQL): connected paused or
active, lost once, re-added with its settings, paused and disconnected by its admins."""

from __future__ import annotations

from datetime import time

from bot.channels import DISCONNECTED, LOST, PAUSED, UNCONFIRMED
from bot.store import Store

CHANNEL = -1001111


def test_added_channel_waits_for_confirmation_then_confirms(store: Store) -> None:
    first = store.connect_channel(CHANNEL, title="C", language="en", by=7, confirmed=False)
    assert first.created
    assert (first.subscriber.active, first.subscriber.inactive_reason) == (False, UNCONFIRMED)
    again = store.connect_channel(CHANNEL, title="C", language="en", by=7, confirmed=True)
    assert not again.created
    assert again.reactivated
    assert again.subscriber.active
    assert again.subscriber.id == first.subscriber.id


def test_lost_once_and_readded_with_its_settings(store: Store) -> None:
    link = store.connect_channel(CHANNEL, title="C", language="zh", by=7, confirmed=True)
    store.set_push_time(CHANNEL, time(9, 30))
    lost = store.lose_channel(CHANNEL)
    assert lost is not None
    assert lost.inactive_reason == LOST
    assert store.lose_channel(CHANNEL) is None  # already lost: nobody is told twice
    back = store.connect_channel(CHANNEL, title="C2", language="en", by=8, confirmed=False)
    assert back.reactivated
    assert back.subscriber.active
    assert back.subscriber.push_time == time(9, 30)
    assert back.subscriber.language == "zh"
    assert (back.subscriber.title, back.subscriber.connected_by) == ("C2", 8)
    assert back.subscriber.id == link.subscriber.id


def test_paused_stays_paused_and_disconnected_needs_a_confirmation(store: Store) -> None:
    link = store.connect_channel(CHANNEL, title="C", language="en", by=7, confirmed=True)
    sid = link.subscriber.id
    paused = store.set_channel_state(sid, PAUSED)
    assert paused is not None
    assert not paused.active
    readded = store.connect_channel(CHANNEL, title="C", language="en", by=7, confirmed=False)
    assert readded.subscriber.inactive_reason == PAUSED
    store.set_channel_state(sid, DISCONNECTED)
    readded = store.connect_channel(CHANNEL, title="C", language="en", by=7, confirmed=False)
    assert readded.subscriber.inactive_reason == UNCONFIRMED
    assert [s.chat_id for s in store.channel_subscribers()] == [CHANNEL]
    store.subscribe(5, chat_type="private", language="en")
    assert store.set_channel_state(store.get_subscriber(5).id, PAUSED) is None  # type: ignore[union-attr]


def test_a_channel_passes_from_a_demoted_connector_only(store: Store) -> None:
    store.connect_channel(CHANNEL, title="C", language="en", by=7, confirmed=True)
    assert not store.hand_over_channel(CHANNEL, 8, 9)  # 8 did not connect it
    assert store.hand_over_channel(CHANNEL, 7, 9)
    moved = store.get_subscriber(CHANNEL)
    assert moved is not None
    assert moved.connected_by == 9
    assert store.hand_over_channel(CHANNEL, 9, None)  # left on their own: nobody
    gone = store.get_subscriber(CHANNEL)
    assert gone is not None
    assert gone.connected_by is None
    store.subscribe(5, chat_type="private", language="en")
    assert not store.hand_over_channel(5, 5, 6)  # not a channel
