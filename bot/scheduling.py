"""Scheduling: who is due for the daily push, and which articles they get (pure functions).

Every decision takes a tz-aware `now`, so the push tick, `digestbot push` and the tests
agree on the same answers. Local times go through zoneinfo: a push time that does not
exist on a spring-forward day moves forward by the gap, an ambiguous one on a fall-back
day takes its first occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.model import Subscriber

Policy = Literal["newest", "backlog"]


@dataclass(frozen=True, slots=True)
class PushDefaults:
    """The push settings a subscriber falls back to, and the rules every push follows."""

    push_time: time = time(8, 0)
    timezone: str = "Asia/Shanghai"
    grace: timedelta = timedelta(hours=6)
    policy: Policy = "newest"
    max_per_day: int = 1


@cache
def _known_zones() -> frozenset[str]:
    """Return every IANA zone name the tz database here knows (read once)."""
    try:
        return frozenset(available_timezones()) | {"UTC"}
    except OSError:  # an unreadable tz folder: only what zoneinfo can always build
        return frozenset({"UTC"})


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """Return the IANA zone called `name`, or None when it is unknown; never raises."""
    # Checking the name first keeps ZoneInfo from touching the file system with it: "Asia"
    # is a folder (IsADirectoryError), 300 characters are too long a file name (OSError).
    if not isinstance(name, str) or name not in _known_zones():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def subscriber_zone(sub: Subscriber, defaults: PushDefaults) -> ZoneInfo:
    """Return the subscriber's zone (the default one when unset or unknown)."""
    return zone_or_default(sub.timezone, defaults)


def zone_or_default(name: str | None, defaults: PushDefaults) -> ZoneInfo:
    """Return the zone called `name`, or the default one when unset or unknown."""
    own = zone(name) if name else None
    if own is not None:
        return own
    fallback = zone(defaults.timezone)
    return fallback if fallback is not None else ZoneInfo("UTC")


def slot_at(day: date, push_time: time, tz: ZoneInfo) -> datetime:
    """Return the aware UTC instant of `push_time` on local `day` in `tz`.

    fold=0 reads a nonexistent wall time with the offset before the gap (so 02:30 on a
    spring-forward day lands at 03:30 local) and an ambiguous one as its first occurrence.
    """
    local = datetime.combine(day, push_time.replace(tzinfo=None, fold=0), tzinfo=tz)
    return local.astimezone(UTC)


def next_slot(push_time: time, tz: ZoneInfo, now: datetime) -> datetime:
    """Return the first push instant (aware UTC) strictly after `now` at `push_time` in `tz`."""
    day = now.astimezone(tz).date()
    while (slot := slot_at(day, push_time, tz)) <= now:
        day += timedelta(days=1)
    return slot


def local_slot(sub: Subscriber, now: datetime, defaults: PushDefaults) -> tuple[date, datetime]:
    """Return the subscriber's local date at `now` and the UTC instant of that day's push."""
    tz = subscriber_zone(sub, defaults)
    today = now.astimezone(tz).date()
    return today, slot_at(today, sub.push_time or defaults.push_time, tz)


def is_due(sub: Subscriber, now: datetime, defaults: PushDefaults) -> date | None:
    """Return the local date to push for if the subscriber is due at `now`, else None.

    Due means: the day's push time has passed, `now` is within the grace window after it,
    and that day's push has not been made. Yesterday's slot is checked too (a 23:00 push
    missed by an outage is still sent at 01:00), but never anything older: a missed day
    outside the grace window is skipped, so a restart never bursts stale pushes.
    """
    if not sub.active:
        return None
    return due_day(
        sub.push_time or defaults.push_time,
        subscriber_zone(sub, defaults),
        now,
        defaults.grace,
        last_push_date=sub.last_push_date,
        subscribed_at=sub.subscribed_at,
    )


def due_day(
    push_time: time,
    tz: ZoneInfo,
    now: datetime,
    grace: timedelta,
    *,
    last_push_date: date | None,
    subscribed_at: datetime,
) -> date | None:
    """Return the local date an active chat with these settings is due for at `now`, or None.

    `is_due` for plain values. A chat that subscribed at or before `now - grace` gets the
    same answer whenever it subscribed: every slot within the grace window is after it.
    """
    today = now.astimezone(tz).date()
    for day in (today, today - timedelta(days=1)):
        slot = slot_at(day, push_time, tz)
        if slot <= now:
            if now - slot > grace or subscribed_at > slot:
                # Too stale, or the chat subscribed after this slot: its first push is the
                # next slot, as the welcome message promised.
                return None
            if last_push_date is not None and last_push_date >= day:
                return None
            return day
    return None


def next_push_at(sub: Subscriber, now: datetime, defaults: PushDefaults) -> datetime:
    """Return the first push instant (aware UTC) from which `is_due` may hold, as of `now`.

    That is the earliest slot, from yesterday's local one on, that is still within the grace
    window at `now`, not before the chat subscribed, and for a day not pushed yet. Before it
    the subscriber cannot be due, so a tick need not read it; at or after it, `is_due`
    decides (with nothing new to send the slot stays, and the row is read again until the
    grace window closes). Local days go through zoneinfo like `is_due`, so DST moves it.
    """
    return first_open_slot(
        sub.push_time or defaults.push_time,
        subscriber_zone(sub, defaults),
        now,
        defaults.grace,
        last_push_date=sub.last_push_date,
        not_before=sub.subscribed_at,
    )


def first_open_slot(
    push_time: time,
    tz: ZoneInfo,
    now: datetime,
    grace: timedelta,
    *,
    last_push_date: date | None,
    not_before: datetime,
) -> datetime:
    """Return the earliest slot from yesterday's local one on that is still open at `now`.

    Open: within `grace` of `now`, not before `not_before`, for a day after `last_push_date`.
    """
    day = now.astimezone(tz).date() - timedelta(days=1)
    if last_push_date is not None and last_push_date >= day:
        day = last_push_date + timedelta(days=1)
    while True:
        slot = slot_at(day, push_time, tz)
        if now - slot <= grace and slot >= not_before:
            return slot
        day += timedelta(days=1)


def is_due_forced(sub: Subscriber, now: datetime, defaults: PushDefaults) -> date | None:
    """Return today's local date if the subscriber has not had today's push (`push --now`)."""
    if not sub.active:
        return None
    return forced_day(subscriber_zone(sub, defaults), now, last_push_date=sub.last_push_date)


def forced_day(tz: ZoneInfo, now: datetime, *, last_push_date: date | None) -> date | None:
    """Return the local date `push --now` pushes an active chat in `tz` for, or None.

    `is_due_forced` for plain values: today's local date, unless that day's push was made.
    """
    today = now.astimezone(tz).date()
    if last_push_date is not None and last_push_date >= today:
        return None
    return today


def pick_articles(
    policy: Policy,
    ordered_ids: Sequence[int],
    already_delivered: set[int] | frozenset[int],
    max_per_day: int,
) -> list[int]:
    """Pick up to `max_per_day` visible articles for one subscriber's push.

    `ordered_ids` are the visible articles in the policy's order: newest first for
    "newest", oldest first for "backlog". "newest" takes only articles newer than the
    newest one the subscriber already received (nothing new → nothing); "backlog" takes
    the oldest ones not yet received, walking the archive day by day.
    """
    picked: list[int] = []
    for article_id in ordered_ids:
        if len(picked) >= max_per_day:
            break
        if article_id in already_delivered:
            if policy == "newest":
                break
            continue
        picked.append(article_id)
    return picked


def newest_window(policy: Policy, ordered_ids: Sequence[int], max_per_day: int) -> Sequence[int]:
    """Return the articles whose delivery history `pick_articles` can depend on.

    "newest" only looks at the first `max_per_day` ids, so the ledger need not load a
    subscriber's whole history to plan a push.
    """
    return ordered_ids[:max_per_day] if policy == "newest" else ordered_ids


@dataclass(frozen=True, slots=True)
class Schedule:
    """A chat's effective delivery time and timezone (its own or the defaults)."""

    push_time: time
    timezone: str
    custom_time: bool
    custom_timezone: bool

    def next_push(self, now: datetime) -> datetime:
        """Return the next local delivery time strictly after `now` (tz-aware)."""
        tz = ZoneInfo(self.timezone)
        return next_slot(self.push_time, tz, now).astimezone(tz)


def schedule_for(subscriber: Subscriber | None, defaults: PushDefaults) -> Schedule:
    """Return a chat's delivery schedule: its own settings, else the push defaults."""
    own_time = subscriber.push_time if subscriber else None
    own_zone = subscriber.timezone if subscriber else None
    return Schedule(
        push_time=own_time or defaults.push_time,
        timezone=own_zone or defaults.timezone,
        custom_time=own_time is not None,
        custom_timezone=own_zone is not None,
    )


def schedule_context(schedule: Schedule, now: datetime) -> dict[str, object]:
    """Return the template values describing a schedule."""
    return {
        "push_time": schedule.push_time.strftime("%H:%M"),
        "timezone": schedule.timezone,
        "next_push": schedule.next_push(now).strftime("%Y-%m-%d %H:%M"),
        "custom_time": schedule.custom_time,
        "custom_timezone": schedule.custom_timezone,
    }
