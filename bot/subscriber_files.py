"""Subscriber files: read subscriptions from CSV or JSON lines, and write them out again.

`digestbot subscribers import FILE` and `export` use this to migrate or back up a bot's
subscribers (and the benchmarks to build large populations). A file has one subscription
per line: ``chat_id``, ``kind`` (``chat_type`` is accepted too: private, group, supergroup
or channel), ``language``, ``time`` (HH:MM, empty for the default), ``timezone`` (IANA,
empty for the default), and optionally ``title``, ``active`` and ``thread`` (a forum topic's
message_thread_id; empty or 0 for the whole chat, and each topic is its own subscription).
A ``topics`` column is accepted and ignored: subscriptions have no topics yet. Bad rows are
reported by line number and the rest imported; rows are written in batches, one transaction
each.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import time
from typing import Any, TextIO

from bot.i18n import LANGS, is_lang
from bot.model import Subscriber, SubscriberImport
from bot.scheduling import zone
from bot.store import Store

BATCH = 5000  # rows per transaction
KINDS = ("private", "group", "supergroup", "channel")
COLUMNS = ("chat_id", "kind", "language", "time", "timezone", "title", "active", "thread")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


class RowError(ValueError):
    """One line of a subscriber file that cannot be imported."""


@dataclass(slots=True)
class ImportReport:
    """What an import did: rows added, rows updated, and each bad line with its reason."""

    added: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        """Return one line for the operator."""
        return f"added {self.added}, updated {self.updated}, bad rows {len(self.errors)}"


def import_subscribers(
    store: Store, source: TextIO, *, as_json: bool | None = None
) -> ImportReport:
    """Import every good row of `source` (CSV, or JSON lines when `as_json`, or sniffed).

    A chat already subscribed is updated (kind, language, time, timezone, title, active);
    its delivery history is kept.
    """
    report = ImportReport()
    batch: list[SubscriberImport] = []
    for line, values in _records(source, as_json):
        try:
            batch.append(parse_row(values))
        except RowError as exc:
            report.errors.append((line, str(exc)))
            continue
        if len(batch) >= BATCH:
            _write(store, batch, report)
    _write(store, batch, report)
    return report


def _write(store: Store, batch: list[SubscriberImport], report: ImportReport) -> None:
    if batch:
        added, updated = store.import_subscribers(batch)
        report.added += added
        report.updated += updated
        batch.clear()


def _records(source: TextIO, as_json: bool | None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, values) for each non-empty record of the file."""
    first = source.readline()
    if as_json is None:
        as_json = first.lstrip().startswith("{")
    lines = _chain(first, source)
    if as_json:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, {"__error__": f"not JSON: {exc.msg}"}
                continue
            yield number, values if isinstance(values, dict) else {"__error__": "not an object"}
        return
    reader = csv.DictReader(lines)
    for values in reader:
        if not any((v or "").strip() for v in values.values() if isinstance(v, str)):
            continue
        yield reader.line_num, dict(values)


def _chain(first: str, rest: TextIO) -> Iterator[str]:
    yield first
    yield from rest


def parse_row(values: dict[str, Any]) -> SubscriberImport:
    """Validate one record; raise RowError naming the first bad field."""
    if "__error__" in values:
        raise RowError(str(values["__error__"]))
    chat_id = _int(values.get("chat_id"), "chat_id")
    kind = _text(values.get("kind", values.get("chat_type"))).lower()
    if kind not in KINDS:
        raise RowError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    language = _text(values.get("language")).lower()
    if not is_lang(language):
        raise RowError(f"language must be one of {', '.join(LANGS)}, not {language!r}")
    timezone = _text(values.get("timezone")) or None
    if timezone is not None and zone(timezone) is None:
        raise RowError(f"unknown timezone {timezone!r}")
    return SubscriberImport(
        chat_id=chat_id,
        chat_type=kind,
        language=language,
        push_time=_time(_text(values.get("time"))),
        timezone=timezone,
        title=_text(values.get("title")),
        active=_bool(values.get("active", True)),
        thread_id=_thread(values.get("thread")),
    )


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _int(value: object, name: str) -> int:
    try:
        number = int(_text(value)) if not isinstance(value, int) else value
    except ValueError:
        raise RowError(f"{name} must be an integer, not {value!r}") from None
    if number == 0:
        raise RowError(f"{name} must not be 0")
    return number


def _thread(value: object) -> int:
    text = _text(value)
    if not text:
        return 0
    if not text.isdigit():
        raise RowError(f"thread must be a topic's id (a positive integer), not {value!r}")
    return int(text)


def _time(value: str) -> time | None:
    if not value:
        return None
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise RowError(f"time must be HH:MM, not {value!r}") from None


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in _TRUE or text == "":
        return True
    if text in _FALSE:
        return False
    raise RowError(f"active must be true or false, not {value!r}")


# -- export -------------------------------------------------------------------------------


def export_subscribers(store: Store, out: TextIO, *, as_json: bool = False) -> int:
    """Write every subscriber, active or not, to `out` (CSV with a header, or JSON lines)."""
    count = 0
    writer = None if as_json else csv.writer(out, lineterminator="\n")
    if writer is not None:
        writer.writerow(COLUMNS)
    for sub in _every(store):
        record = to_record(sub)
        if writer is not None:
            writer.writerow([record[column] for column in COLUMNS])
        else:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _every(store: Store) -> Iterable[Subscriber]:
    after = 0
    while page := store.subscriber_page(after_id=after, limit=BATCH):
        yield from page
        after = page[-1].id


def to_record(sub: Subscriber) -> dict[str, Any]:
    """Return the file record of a subscriber (what import reads back)."""
    return {
        "chat_id": sub.chat_id,
        "kind": sub.chat_type,
        "language": sub.language,
        "time": sub.push_time.strftime("%H:%M") if sub.push_time else "",
        "timezone": sub.timezone or "",
        "title": sub.title,
        "active": sub.active,
        "thread": sub.thread_id,
    }
