"""Scheduling: local push slots across timezones and DST, the grace window, article picking."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import Subscriber
from bot.scheduling import (
    PushDefaults,
    Schedule,
    is_due,
    is_due_forced,
    local_slot,
    next_push_at,
    next_slot,
    pick_articles,
    schedule_context,
    schedule_for,
    subscriber_zone,
    zone,
)

DEFAULTS = PushDefaults(
    push_time=time(8, 0), timezone="Asia/Shanghai", grace=timedelta(hours=6), policy="newest"
)


def sub(
    *,
    tz: str | None = None,
    at: time | None = None,
    last: date | None = None,
    active: bool = True,
) -> Subscriber:
    return Subscriber(
        id=1,
        chat_id=100,
        chat_type="private",
        title="",
        language="en",
        language_locked=False,
        push_time=at,
        timezone=tz,
        active=active,
        subscribed_at=datetime(2020, 1, 1, tzinfo=UTC),
        last_push_date=last,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "day", "expected_utc"),
    [
        ("Asia/Shanghai", date(2026, 6, 1), utc(2026, 6, 1, 0, 0)),  # UTC+8, no DST
        ("America/New_York", date(2026, 1, 15), utc(2026, 1, 15, 13, 0)),  # EST
        ("America/New_York", date(2026, 7, 15), utc(2026, 7, 15, 12, 0)),  # EDT
        ("Europe/London", date(2026, 1, 15), utc(2026, 1, 15, 8, 0)),  # GMT
        ("Europe/London", date(2026, 7, 15), utc(2026, 7, 15, 7, 0)),  # BST
    ],
)
def test_local_slot_is_the_push_time_in_the_subscribers_zone(
    tz: str, day: date, expected_utc: datetime
) -> None:
    now = expected_utc + timedelta(minutes=5)
    assert local_slot(sub(tz=tz), now, DEFAULTS) == (day, expected_utc)


def test_default_timezone_and_time_apply_when_unset() -> None:
    """An unset (or unknown) zone falls back to TIMEZONE, an unset time to PUSH_TIME."""
    now = utc(2026, 6, 1, 0, 30)
    assert local_slot(sub(), now, DEFAULTS) == (date(2026, 6, 1), utc(2026, 6, 1, 0, 0))
    assert local_slot(sub(tz="Mars/Olympus"), now, DEFAULTS)[1] == utc(2026, 6, 1, 0, 0)
    assert local_slot(sub(at=time(9, 30)), now, DEFAULTS)[1] == utc(2026, 6, 1, 1, 30)


def test_spring_forward_nonexistent_time_moves_forward() -> None:
    """02:30 does not exist in New York on 2026-03-08: the push goes at 03:30 EDT."""
    s = sub(tz="America/New_York", at=time(2, 30))
    day, slot = local_slot(s, utc(2026, 3, 8, 12, 0), DEFAULTS)
    assert day == date(2026, 3, 8)
    assert slot == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    assert is_due(s, slot - timedelta(minutes=1), DEFAULTS) is None
    assert is_due(s, slot + timedelta(minutes=1), DEFAULTS) == date(2026, 3, 8)


def test_fall_back_ambiguous_time_takes_the_first_occurrence_once() -> None:
    """01:30 happens twice in New York on 2026-11-01: the push goes at the first, only once."""
    s = sub(tz="America/New_York", at=time(1, 30))
    _, slot = local_slot(s, utc(2026, 11, 1, 12, 0), DEFAULTS)
    assert slot == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first one
    assert is_due(s, slot + timedelta(minutes=1), DEFAULTS) == date(2026, 11, 1)
    pushed = replace(s, last_push_date=date(2026, 11, 1))
    assert is_due(pushed, slot + timedelta(hours=1, minutes=1), DEFAULTS) is None  # 01:31 EST


def test_dst_days_keep_the_local_wall_time_in_london() -> None:
    """Across Europe/London's DST switches the push stays at 08:00 local."""
    s = sub(tz="Europe/London")
    assert local_slot(s, utc(2026, 3, 29, 12), DEFAULTS)[1] == utc(2026, 3, 29, 7, 0)
    assert local_slot(s, utc(2026, 3, 28, 12), DEFAULTS)[1] == utc(2026, 3, 28, 8, 0)
    assert local_slot(s, utc(2026, 10, 25, 12), DEFAULTS)[1] == utc(2026, 10, 25, 8, 0)


def test_due_only_after_push_time_and_within_grace() -> None:
    s = sub(tz="Asia/Shanghai")  # 08:00 local = 00:00 UTC
    assert is_due(s, utc(2026, 6, 1, 0, 0), DEFAULTS) == date(2026, 6, 1)
    assert is_due(s, utc(2026, 5, 31, 23, 59), DEFAULTS) is None  # 07:59 local, not yet
    assert is_due(s, utc(2026, 6, 1, 6, 0), DEFAULTS) == date(2026, 6, 1)  # edge of grace
    assert is_due(s, utc(2026, 6, 1, 6, 1), DEFAULTS) is None  # missed by more than grace


def test_missed_push_outside_grace_is_skipped_not_burst() -> None:
    """After days of downtime only today's push can go out, and only within the grace."""
    s = sub(tz="Europe/London", last=date(2026, 1, 10))
    assert is_due(s, utc(2026, 1, 15, 20, 0), DEFAULTS) is None  # 20:00, 12 h late
    assert is_due(s, utc(2026, 1, 16, 9, 0), DEFAULTS) == date(2026, 1, 16)


def test_late_evening_push_is_caught_up_after_midnight_within_grace() -> None:
    """A 23:00 push missed by an outage still goes out at 01:00 for the previous day."""
    s = sub(tz="Europe/London", at=time(23, 0), last=date(2026, 1, 14))
    assert is_due(s, utc(2026, 1, 16, 1, 0), DEFAULTS) == date(2026, 1, 15)
    assert (
        is_due(replace(s, last_push_date=date(2026, 1, 15)), utc(2026, 1, 16, 1), DEFAULTS) is None
    )


def test_at_most_one_push_per_local_day() -> None:
    s = sub(tz="America/New_York", last=date(2026, 1, 15))
    assert is_due(s, utc(2026, 1, 15, 14, 0), DEFAULTS) is None
    assert is_due(s, utc(2026, 1, 16, 14, 0), DEFAULTS) == date(2026, 1, 16)


def test_a_chat_that_subscribes_after_todays_slot_first_gets_tomorrows() -> None:
    s = replace(sub(tz="Asia/Shanghai"), subscribed_at=utc(2026, 6, 1, 1, 0))  # 09:00 local
    assert is_due(s, utc(2026, 6, 1, 1, 30), DEFAULTS) is None
    assert is_due(s, utc(2026, 6, 2, 0, 1), DEFAULTS) == date(2026, 6, 2)


def test_next_slot_is_strictly_after_now_and_dst_safe() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert next_slot(time(8), shanghai, utc(2026, 6, 1, 0, 0)) == utc(2026, 6, 2, 0, 0)
    assert next_slot(time(8), shanghai, utc(2026, 5, 31, 23, 0)) == utc(2026, 6, 1, 0, 0)
    new_york = ZoneInfo("America/New_York")  # 02:30 does not exist on 2026-03-08
    assert next_slot(time(2, 30), new_york, utc(2026, 3, 8, 5, 0)) == utc(2026, 3, 8, 7, 30)


def test_next_push_at_is_the_first_slot_still_within_the_grace() -> None:
    """Before the slot: today's; within the grace: today's (due now); past it: tomorrow's."""
    s = sub(tz="Asia/Shanghai")
    assert next_push_at(s, utc(2026, 5, 31, 23, 0), DEFAULTS) == utc(2026, 6, 1, 0, 0)
    assert next_push_at(s, utc(2026, 6, 1, 5, 0), DEFAULTS) == utc(2026, 6, 1, 0, 0)
    assert next_push_at(s, utc(2026, 6, 1, 7, 0), DEFAULTS) == utc(2026, 6, 2, 0, 0)


def test_next_push_at_skips_pushed_days_and_slots_before_subscribing() -> None:
    pushed = sub(tz="Asia/Shanghai", last=date(2026, 6, 1))
    assert next_push_at(pushed, utc(2026, 6, 1, 1, 0), DEFAULTS) == utc(2026, 6, 2, 0, 0)
    late = replace(sub(tz="Asia/Shanghai"), subscribed_at=utc(2026, 6, 1, 1, 0))
    assert next_push_at(late, utc(2026, 6, 1, 1, 0), DEFAULTS) == utc(2026, 6, 2, 0, 0)


def test_next_push_at_catches_up_yesterdays_late_slot() -> None:
    """A 23:00 push not made by 01:00 is still due: its instant is yesterday's slot."""
    s = sub(tz="Europe/London", at=time(23, 0), last=date(2026, 1, 14))
    assert next_push_at(s, utc(2026, 1, 16, 1, 0), DEFAULTS) == utc(2026, 1, 15, 23, 0)


def test_next_push_at_follows_dst_and_agrees_with_is_due() -> None:
    """Across New York's spring-forward and fall-back, a subscriber is due exactly from its
    stored instant on, checked every 10 minutes over a week on each side."""
    for start in (utc(2026, 3, 5), utc(2026, 10, 29)):
        for at in (time(1, 30), time(2, 30), time(8, 0), time(23, 30)):
            s = sub(tz="America/New_York", at=at, last=None)
            s = replace(s, subscribed_at=start)
            instant = next_push_at(s, start, DEFAULTS)
            now = start
            while now < start + timedelta(days=7):
                day = is_due(s, now, DEFAULTS)
                assert (day is not None) == (now >= instant), (at, now, instant)
                if day is not None:
                    s = replace(s, last_push_date=day)
                if now >= instant:
                    instant = next_push_at(s, now, DEFAULTS)
                now += timedelta(minutes=10)


def test_inactive_subscribers_are_never_due() -> None:
    s = sub(active=False)
    assert is_due(s, utc(2026, 6, 1, 0, 10), DEFAULTS) is None
    assert is_due_forced(s, utc(2026, 6, 1, 0, 10), DEFAULTS) is None


def test_forced_push_ignores_the_clock_but_not_todays_push() -> None:
    """`push --now` pushes anyone whose local today has not had a push, at any hour."""
    now = utc(2026, 6, 1, 20, 0)  # 04:00 on June 2 in Shanghai
    assert is_due_forced(sub(), now, DEFAULTS) == date(2026, 6, 2)
    assert is_due_forced(sub(last=date(2026, 6, 2)), now, DEFAULTS) is None
    assert is_due_forced(sub(tz="America/New_York", last=date(2026, 5, 31)), now, DEFAULTS) == (
        date(2026, 6, 1)
    )


def test_newest_policy_takes_only_articles_newer_than_the_last_received() -> None:
    newest_first = [50, 40, 30, 20, 10]
    assert pick_articles("newest", newest_first, set(), 1) == [50]
    assert pick_articles("newest", newest_first, {40}, 3) == [50]
    assert pick_articles("newest", newest_first, {50}, 1) == []  # nothing new → nothing
    assert pick_articles("newest", newest_first, {20, 10}, 2) == [50, 40]


def test_backlog_policy_walks_the_archive_oldest_first() -> None:
    oldest_first = [10, 20, 30, 40, 50]
    assert pick_articles("backlog", oldest_first, set(), 1) == [10]
    assert pick_articles("backlog", oldest_first, {10, 30}, 2) == [20, 40]
    assert pick_articles("backlog", oldest_first, {10, 20, 30, 40, 50}, 1) == []


def test_max_per_day_bounds_the_picks() -> None:
    assert pick_articles("backlog", [1, 2, 3, 4], set(), 3) == [1, 2, 3]
    assert pick_articles("newest", [4, 3, 2, 1], set(), 2) == [4, 3]
    assert pick_articles("newest", [], set(), 2) == []


@pytest.mark.parametrize(
    "name",
    ["Asia", "Asia/", "", "/", ".", "..", "../etc/passwd", "/etc/passwd", "x" * 300,
     "Asia/Shanghai\x00", "a\x00b", "Asia//Shanghai", "asia/shanghai", "\udcff", "posixrules"],
)  # fmt: skip
def test_zone_of_a_name_that_is_no_iana_zone_is_none_never_an_error(name: str) -> None:
    assert zone(name) is None


@settings(deadline=None)
@given(name=st.text())
def test_zone_never_raises(name: str) -> None:
    found = zone(name)
    assert found is None or str(found) == name


def test_a_subscriber_with_a_folder_for_a_zone_falls_back_to_the_default() -> None:
    assert subscriber_zone(sub(tz="Asia"), DEFAULTS) == ZoneInfo("Asia/Shanghai")
    assert subscriber_zone(sub(tz="Asia"), replace(DEFAULTS, timezone="..")) == ZoneInfo("UTC")


def test_next_push_is_later_today_or_tomorrow_in_the_chats_timezone() -> None:
    schedule = Schedule(time(8, 0), "Asia/Shanghai", custom_time=False, custom_timezone=False)
    before = datetime(2025, 6, 1, 23, 0, tzinfo=UTC)  # 07:00 on 2 June in Shanghai
    after = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)  # 08:00 on 2 June: that push is now
    assert schedule.next_push(before).isoformat() == "2025-06-02T08:00:00+08:00"
    assert schedule.next_push(after).isoformat() == "2025-06-03T08:00:00+08:00"


def test_schedule_falls_back_to_the_push_defaults() -> None:
    defaults = PushDefaults(push_time=time(7, 0), timezone="Europe/Berlin")
    schedule = schedule_for(None, defaults)
    assert (schedule.push_time, schedule.timezone) == (time(7, 0), "Europe/Berlin")
    assert not schedule.custom_time
    assert not schedule.custom_timezone


def test_schedule_takes_the_chats_own_time_and_timezone() -> None:
    schedule = schedule_for(sub(tz="Asia/Tokyo", at=time(21, 30)), DEFAULTS)
    assert (schedule.push_time, schedule.timezone) == (time(21, 30), "Asia/Tokyo")
    assert schedule.custom_time
    assert schedule.custom_timezone
    own_time_only = schedule_for(sub(at=time(6, 0)), DEFAULTS)
    assert own_time_only.timezone == DEFAULTS.timezone
    assert (own_time_only.custom_time, own_time_only.custom_timezone) == (True, False)


def test_schedule_context_gives_the_template_its_values() -> None:
    schedule = Schedule(time(8, 5), "Asia/Shanghai", custom_time=True, custom_timezone=False)
    values = schedule_context(schedule, datetime(2025, 6, 1, 23, 0, tzinfo=UTC))
    assert values == {
        "push_time": "08:05",
        "timezone": "Asia/Shanghai",
        "next_push": "2025-06-02 08:05",
        "custom_time": True,
        "custom_timezone": False,
    }
