"""Error reports for ERROR_CHAT_ID: one a minute, a count of the rest, token-free, short."""

from __future__ import annotations

from bot.alerts import DETAILS_LIMIT, ErrorReports, keep_head, keep_tail
from bot.markup import utf16_len

SECRET = "AAEsecretsecretsecret_secret"  # noqa: S105 - a fake token


def fail(text: str) -> BaseException:
    """Return an exception that carries a traceback, as a raised one does."""
    try:
        raise RuntimeError(text)  # noqa: TRY301 - raised here for its traceback
    except RuntimeError as exc:
        return exc


def test_one_report_a_minute_and_the_next_counts_the_held_back_ones() -> None:
    now = [0.0]
    reports = ErrorReports(clock=lambda: now[0])
    first = reports.report(fail("one"))
    assert first is not None
    assert first.suppressed == 0
    now[0] = 30
    assert reports.report(fail("two")) is None
    assert reports.report(fail("three")) is None
    now[0] = 61
    later = reports.report(fail("four"))
    assert later is not None
    assert later.suppressed == 2
    assert later.summary == "RuntimeError: four"


def test_the_token_never_reaches_the_report() -> None:
    report = ErrorReports().report(
        fail(f"https://api.telegram.org/bot123:{SECRET}/sendMessage failed"),
        where=f"/start {SECRET}",
        secret=SECRET,
    )
    assert report is not None
    for text in (report.summary, report.where, report.details):
        assert SECRET not in text
    assert "<token>" in report.summary
    assert "<token>" in report.details


def test_a_huge_traceback_is_cut_to_its_tail_to_fit_one_message() -> None:
    report = ErrorReports().report(fail("x" * 20_000 + " the end"))
    assert report is not None
    assert utf16_len(report.details) <= DETAILS_LIMIT
    assert report.details.endswith("the end")
    assert utf16_len(report.summary) <= 400


def test_cuts_count_utf16_units() -> None:
    emoji = "😀" * 10  # two UTF-16 units each
    assert utf16_len(keep_head(emoji, 9)) <= 9
    assert keep_head(emoji, 9).endswith("…")
    assert utf16_len(keep_tail(emoji, 9)) <= 9
    assert keep_tail("short", 9) == "short"
