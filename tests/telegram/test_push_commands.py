"""The admin commands of the push end to end: /preview, /pushnow and /stats."""

from __future__ import annotations

from tests.telegram.conftest import ADMIN_ID, BotHarness


async def test_admin_pushnow_preview_and_stats(bot: BotHarness) -> None:
    """/preview shows the next digest, /pushnow pushes and reports, /stats shows the run."""
    admin = bot.api.user(ADMIN_ID, language_code="en")
    chat = bot.api.private_chat(admin)
    [stats] = await bot.say(chat, admin, "/stats")
    assert "No push has run yet." in stats.text
    await bot.say(chat, admin, "/start")
    [intro, digest] = await bot.say(chat, admin, "/preview", expect=2)
    assert "next push" in intro.text
    assert digest.reply_markup_json is not None
    assert "full:" in digest.reply_markup_json
    before = len(bot.api.messages(chat.id))
    bot.api.send_message(chat, admin, "/pushnow")
    sent = await bot.api.wait_sent(chat.id, before + 3)
    texts = [m.text for m in sent[before:]]
    assert any(t.startswith("Push started") for t in texts)
    assert any("Push done: sent 1, failed 0, blocked 0" in t for t in texts)
    [stats] = await bot.say(chat, admin, "/stats")
    assert "Last push" in stats.text
    assert "sent 1" in stats.text
    [nothing] = await bot.say(chat, admin, "/preview")
    assert "Nothing new to push" in nothing.text
