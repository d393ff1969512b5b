"""No input reaches a traceback: every command, button and deep link, fed anything (issue 9 §3).

The property tests throw arbitrary Unicode (other scripts' digits, superscripts, circled and
fullwidth numbers, RTL marks, NUL and other controls), huge and negative numbers at every
command of the command table, every callback action and the /start payload, through the
loopback Bot API, and check that each gets a real answer: never the error handler's apology,
never an ERROR record. The regression tests pin the inputs that once crashed.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.arguments import ID_MAX
from bot.fakeapi.models import FakeChat, FakeUser, SentMessage
from bot.fakeapi.server import LoopbackBotApi
from bot.i18n import LANGS
from bot.telegram import settings_flow, topics_flow
from bot.telegram.commands import COMMANDS
from bot.telegram.handlers import ARTICLE_ACTIONS
from tests.telegram.conftest import DEFAULT_BACKEND, BotHarness, bot_settings, running_bot

T = TypeVar("T")
COMMAND_NAMES = tuple(c.name for c in COMMANDS)
# Every action a button can carry: the article parts, the archive pages, the settings screens.
CALLBACK_ACTIONS = tuple(
    sorted({*ARTICLE_ACTIONS, "list", *settings_flow.ACTIONS, *topics_flow.ACTIONS})
)
FIRST_USER = 700_000

# Characters str.isdigit() or \d take for digits that int() or the database may not.
ODD_DIGITS = "²³¹⁰₀①⑳⓪٠١٢٣۴۵०१২๑༡߀０１２𝟘𝟙"
# Marks and controls that reorder, hide or end text.
ODD_MARKS = "\u200e\u200f\u202a\u202e\u2066\u2069\u061c\u200b\ufeff\x00\x01\x1b\x7f\x85\u2028"
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=ID_MAX - 2, max_value=2**64 + 2),  # the edges of INTEGER and BIGINT
    st.sampled_from([0, 1, -1, ID_MAX, ID_MAX + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]),
).map(str)
odd_numbers = st.text(alphabet=ODD_DIGITS + ODD_MARKS + "0123456789-+:./ ", min_size=1)
anything = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80)
# Long enough to be cut, echoed or refused: up to Telegram's 4096 characters.
long_text = st.builds(lambda piece, times: (piece * times)[:4000], anything, st.integers(1, 4000))
arguments = st.one_of(
    numbers,
    odd_numbers,
    anything,
    long_text,
    st.lists(st.one_of(numbers, odd_numbers, anything), min_size=2, max_size=5).map(" ".join),
)
EXAMPLES = 15  # each example sends every command (or presses every button) once
# The inputs that once crashed, tried first on every run.
KNOWN = ("²", "①", "a²", "٣", "３", str(ID_MAX + 1), "9" * 23, "-1", "\x00", "Asia", "x" * 300)
PG_EXAMPLES = 10


def apologies(bot: BotHarness) -> set[str]:
    """Return the error handler's apology in every language."""
    renderer = bot.runtime.renderer
    return {
        renderer.render("notice", lang, key="error_apology", values={}).strip() for lang in LANGS
    }


class Attacker:
    """Sends one hostile argument everywhere at once and checks every answer."""

    def __init__(self, bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
        self.bot = bot
        self.api: LoopbackBotApi = bot.api
        self.caplog = caplog
        self.apologies = apologies(bot)
        self._ids = itertools.count(FIRST_USER)

    def fresh_chat(self) -> tuple[FakeUser, FakeChat]:
        """Return a new user and their private chat (a flood budget never sees them twice)."""
        user_id = next(self._ids)
        lang = "en" if user_id % 2 else "zh-hans"
        user = self.api.user(user_id, first_name="Mallory", language_code=lang)
        return user, self.api.private_chat(user)

    async def messages_everywhere(self, texts: list[str]) -> None:
        """Send each text from a new chat; each chat must be answered, and not with an apology."""
        self.caplog.clear()  # what an earlier example logged is that example's failure
        sent = []
        for text in texts:
            user, chat = self.fresh_chat()
            self.api.send_message(chat, user, text)
            sent.append((chat, text))
        for chat, text in sent:
            replies = await self.api.wait_sent(chat.id, 1)
            self.check(text, replies)
        await self.api.settle(quiet=0.05)
        for chat, text in sent:
            self.check(text, self.api.messages(chat.id))

    async def buttons_everywhere(self, datas: list[str]) -> None:
        """Press a button carrying each data on a subscribed chat's welcome message."""
        self.caplog.clear()
        chats = []
        for data in datas:
            user, chat = self.fresh_chat()
            self.api.send_message(chat, user, "/start")
            chats.append((user, chat, data))
        presses = []
        for user, chat, data in chats:
            welcome = (await self.api.wait_sent(chat.id, 1))[0]
            query_id = self.api.press_button(chat, user, welcome.message_id, data)
            presses.append((chat, data, query_id))
        for _, _, query_id in presses:
            await self.bot.answer(query_id)
        await self.api.settle(quiet=0.05)
        for chat, data, _ in presses:
            self.check(f"button {data!r}", self.api.messages(chat.id))

    def check(self, what: str, replies: list[SentMessage]) -> None:
        """Fail on an apology or on any ERROR record so far."""
        texts = [m.text.strip() for m in replies]
        assert texts, f"{what!r} got no reply"
        assert not self.apologies & set(texts), f"{what!r} got the apology"
        errors = [r for r in self.caplog.records if r.levelno >= logging.ERROR]
        # The record cannot name its chat: the first one checked after it is blamed.
        assert not errors, f"{what!r} (or another of this example) logged {errors[0].exc_info!r}"


@pytest.fixture
async def attacker(
    loopback_api: LoopbackBotApi,
    tmp_path: Path,
    seeds_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Attacker]:
    """A running bot on SQLite and an attacker sending it whatever it likes."""
    settings_ = bot_settings(loopback_api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    async with running_bot(loopback_api, settings_) as harness:
        yield Attacker(harness, caplog)


@pytest.fixture
async def pg_attacker(
    loopback_api: LoopbackBotApi,
    tmp_path: Path,
    seeds_dir: Path,
    pg_url: str,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Attacker]:
    """The same on PostgreSQL, whose INTEGER ids end at 2^31-1 and whose text has no NUL."""
    base = bot_settings(loopback_api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    settings_ = base.model_copy(update={"database_url": pg_url})
    async with running_bot(loopback_api, settings_) as harness:
        yield Attacker(harness, caplog)


def command_texts(argument: str) -> list[str]:
    """Return every command with `argument`, the deep-link payloads, and it as a command."""
    return [
        *(f"/{name} {argument}" for name in COMMAND_NAMES),
        f"/start a{argument}",
        f"/start {argument}",
        f"/{argument}",  # an unknown (or odd) command name
    ]


def callback_datas(argument: str) -> list[str]:
    """Return every callback action carrying `argument` (alone and as a second value)."""
    return [
        *(f"{action}:{argument}" for action in CALLBACK_ACTIONS),
        *(f"{action}:1:{argument}" for action in CALLBACK_ACTIONS),
        argument,
    ]


def known(test: T) -> T:
    """Try every input of KNOWN before the generated ones."""
    for argument in KNOWN:
        test = example(argument=argument)(test)
    return test


# Hypothesis runs every example inside this test's one bot: the fixtures are meant to be
# shared, and the examples are few and fixed (derandomize) so the run takes seconds.
PROPERTY = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@PROPERTY
@given(argument=arguments)
@known
async def test_no_command_argument_reaches_a_traceback(attacker: Attacker, argument: str) -> None:
    await attacker.messages_everywhere(command_texts(argument))


@pytest.mark.slow
@PROPERTY
@given(argument=arguments)
@known
async def test_no_callback_data_reaches_a_traceback(attacker: Attacker, argument: str) -> None:
    await attacker.buttons_everywhere(callback_datas(argument))


# On PostgreSQL the numbers matter most (its int4 ids), and NUL (its text cannot hold one).
PG_PROPERTY = settings(PROPERTY, max_examples=PG_EXAMPLES)
pg_arguments = st.one_of(numbers, odd_numbers, st.just("\x00"), st.just("a\x00b 1"))


@pytest.mark.slow
@pytest.mark.postgres
@PG_PROPERTY
@given(argument=pg_arguments)
@known
async def test_no_command_argument_reaches_a_traceback_on_postgres(
    pg_attacker: Attacker, argument: str
) -> None:
    await pg_attacker.messages_everywhere(command_texts(argument))


@pytest.mark.slow
@pytest.mark.postgres
@PG_PROPERTY
@given(argument=pg_arguments)
@known
async def test_no_callback_data_reaches_a_traceback_on_postgres(
    pg_attacker: Attacker, argument: str
) -> None:
    await pg_attacker.buttons_everywhere(callback_datas(argument))


# -- regressions: the inputs of issue 9 §3, each with the reply it gets --------------------


def english(bot: BotHarness, key: str, **values: object) -> str:
    """Return the English notice `key` as the bot sends it (HTML)."""
    return bot.runtime.renderer.render("notice", "en", key=key, values=values).strip()


async def user_chat(bot: BotHarness, user_id: int) -> tuple[FakeUser, FakeChat]:
    """Return an English-speaking subscribed user and their chat."""
    user = bot.api.user(user_id, language_code="en")
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    return user, chat


@pytest.mark.parametrize(
    ("text", "key", "values"),
    [
        ("/article ²", "not_found", {"ref": "²"}),  # not a number: a slug no article has
        ("/article ①", "not_found", {"ref": "①"}),
        (f"/article {ID_MAX + 1}", "usage_article", {}),
        ("/article 99999999999999999999999", "usage_article", {}),
        ("/article a\x00b", "usage_article", {}),
        ("/full 99999999999999999999999", "usage", {"usage": "/full [id] [page]"}),
        ("/risks ²³", "not_found", {"ref": "²³"}),
        ("/list ①", "usage_list", {}),
        ("/list ²", "usage_list", {}),
        (f"/list {ID_MAX + 1}", "usage_list", {}),
        ("/timezone Asia", "usage_timezone", {}),
        ("/timezone " + "x" * 300, "usage_timezone", {}),
        ("/timezone Asia/Shanghai\x00", "usage_timezone", {}),
        ("/time ０８:３０", "usage_time", {}),
        ("/time 8²:30", "usage_time", {}),
        ("/search " + " ".join(["word"] * 1500), "usage_search", {}),
        ("/search " + "x" * 300, "usage_search", {}),
        ("/search a\x00", "usage_search", {}),
    ],
)
async def test_hostile_arguments_get_the_usage_or_not_found_reply(
    bot: BotHarness, text: str, key: str, values: dict[str, object]
) -> None:
    user, chat = await user_chat(bot, 900)
    [reply] = await bot.say(chat, user, text)
    assert reply.html.strip() == english(bot, key, **values)


async def test_a_deep_link_with_odd_digits_opens_nothing_and_says_so(bot: BotHarness) -> None:
    user = bot.api.user(901, language_code="en")
    chat = bot.api.private_chat(user)
    for payload in ("a²", "a①", f"a{ID_MAX + 1}", "a" + "9" * 30):
        _, unavailable = await bot.say(chat, user, f"/start {payload}", expect=2)
        assert unavailable.html.strip() == english(bot, "unavailable")


@pytest.mark.parametrize(
    "data", ["full:²", "risks:①", "article:٣", f"full:{ID_MAX + 1}", "list:²", "settime:²:0"]
)
async def test_forged_callback_data_gets_the_unavailable_alert(bot: BotHarness, data: str) -> None:
    user, chat = await user_chat(bot, 902)
    welcome = bot.api.messages(chat.id)[-1]
    answer, sent = await bot.press(chat, user, welcome, data)
    assert answer.show_alert
    assert answer.text == bot.runtime.renderer.text("unavailable", "en")
    assert sent == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"/article {ID_MAX + 1}", "usage_article"),
        (f"/full {2**63}", "usage"),
        (f"/list {ID_MAX + 1}", "usage_list"),
        ("/search a\x00", "usage_search"),
        ("/article a\x00", "usage_article"),
    ],
)
async def test_ids_past_postgres_integer_get_the_usage_reply(
    pg_attacker: Attacker, text: str, key: str
) -> None:
    bot = pg_attacker.bot
    user, chat = await user_chat(bot, 903)
    [reply] = await bot.say(chat, user, text)
    assert reply.html.startswith(english(bot, key, usage="/x")[:6])  # "Usage:" in English
    welcome = bot.api.messages(chat.id)[0]
    answer, _ = await bot.press(chat, user, welcome, f"full:{ID_MAX + 1}")
    assert answer.text == bot.runtime.renderer.text("unavailable", "en")
    _, unavailable = await bot.say(chat, user, f"/start a{ID_MAX + 1}", expect=2)
    assert unavailable.html.strip() == english(bot, "unavailable")
    pg_attacker.check(text, [reply])


async def groups_with_odd_titles_subscribe(attacker: Attacker) -> None:
    """Subscribe groups whose titles carry NUL, RTL marks and more, each with /start x5 at once."""
    api = attacker.api
    attacker.caplog.clear()
    titles = ["G\x00roup", "\u202eevil\u202c", "x" * 300, "²\x1b[31m"]
    for number, title in enumerate(titles, start=1):
        group = api.group(-5000 - number, title=title)
        user = api.user(5000 + number, language_code="en")
        for text in ("/start", "/start", f"/start@{api.bot_username} a²", "/start", "/start"):
            api.send_message(group, user, text)
        # A welcome and the deep link's "unavailable" at least; repeated /start while the
        # first welcome is still queued may be answered once (the flood guard's duplicates).
        await api.wait_sent(group.id, 2)
        await api.settle(quiet=0.2)
        assert 2 <= len(api.messages(group.id)) <= 6
        attacker.check(repr(title), api.messages(group.id))
        subscriber = attacker.bot.runtime.store.get_subscriber(group.id)
        assert subscriber is not None
        assert subscriber.active
        assert "\x00" not in subscriber.title
        assert len(subscriber.title) <= 255


async def test_groups_with_odd_titles_subscribe_even_with_five_starts_at_once(
    attacker: Attacker,
) -> None:
    await groups_with_odd_titles_subscribe(attacker)


@pytest.mark.postgres
async def test_groups_with_odd_titles_subscribe_on_postgres(pg_attacker: Attacker) -> None:
    """PostgreSQL text holds no NUL, and two INSERTs of one chat_id race there."""
    await groups_with_odd_titles_subscribe(pg_attacker)
