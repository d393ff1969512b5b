"""Plain values the handlers reply with: next push time, pages, parsed arguments.

Nothing here talks to Telegram or the database; handlers pass values in and render what
comes out, which keeps the handlers thin and these rules testable on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import Settings
from bot.errors import UsageError
from bot.model import Subscriber
from bot.scheduling import next_slot

PAGE_SIZE = 10

# The timezones the /settings keyboard offers; any other IANA zone via /timezone Area/City.
TIMEZONES: tuple[str, ...] = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)

# The delivery times the /settings keyboard offers (local hours); any other via /time HH:MM.
PICKER_HOURS: tuple[int, ...] = (6, 7, 8, 9, 10, 12, 18, 20, 21, 22)

_HHMM = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Schedule:
    """A chat's effective delivery time and timezone (its own or the defaults)."""

    push_time: time
    timezone: str
    custom_time: bool
    custom_timezone: bool

    def next_push(self, now: datetime) -> datetime:
        """Return the next local delivery time strictly after `now` (tz-aware)."""
        zone = ZoneInfo(self.timezone)
        return next_slot(self.push_time, zone, now).astimezone(zone)


def schedule_for(settings: Settings, subscriber: Subscriber | None) -> Schedule:
    """Return a chat's delivery schedule: its own settings, else the bot's defaults."""
    own_time = subscriber.push_time if subscriber else None
    own_zone = subscriber.timezone if subscriber else None
    return Schedule(
        push_time=own_time or settings.push_time,
        timezone=own_zone or settings.timezone,
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


def parse_time(text: str) -> time:
    """Parse `HH:MM` (24-hour clock); raise UsageError otherwise."""
    match = _HHMM.match(text.strip())
    if match is None:
        raise UsageError(f"not a time: {text!r}")
    return time(int(match[1]), int(match[2]))


def parse_timezone(text: str) -> str:
    """Return `text` if it names an IANA timezone; raise UsageError otherwise."""
    name = text.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"not an IANA timezone: {text!r}") from exc
    return name


def parse_page(args: list[str]) -> int:
    """Parse /list's optional 1-based page number; raise UsageError otherwise."""
    if not args:
        return 1
    if len(args) > 1 or not args[0].isdigit() or int(args[0]) < 1:
        raise UsageError(f"not a page number: {' '.join(args)!r}")
    return int(args[0])


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the archive: its 1-based number, the page count and the offset."""

    number: int
    pages: int
    total: int

    @property
    def offset(self) -> int:
        """Return how many articles come before this page."""
        return (self.number - 1) * PAGE_SIZE


def page_of(requested: int, total: int) -> Page:
    """Return the requested page, clamped to the pages that exist (at least one)."""
    pages = max(1, -(-total // PAGE_SIZE))
    return Page(number=min(max(requested, 1), pages), pages=pages, total=total)


def deep_link_article(payload: str) -> int | None:
    """Return the article id of a `/start a<id>` deep-link payload, or None."""
    if payload.startswith("a") and payload[1:].isdigit() and len(payload) < 20:
        return int(payload[1:])
    return None
