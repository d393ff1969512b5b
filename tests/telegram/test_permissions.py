"""A group belongs to its administrators: only they (and ADMIN_IDS) may stop it or change
its time, timezone and language; members get a polite refusal in their own language."""

from __future__ import annotations

from bot.fakeapi.models import Fault
from bot.roles import RoleCache
from tests.telegram.conftest import ADMIN_ID, BotHarness


async def test_a_member_cannot_stop_the_group_but_its_admin_can(bot: BotHarness) -> None:
    owner, member = bot.api.user(501), bot.api.user(502, language_code="zh")
    group = bot.api.group(-5001, "Readers")
    bot.api.set_role(group, owner, "creator")
    await bot.say(group, owner, "/start")

    [refusal] = await bot.say(group, member, "/stop")
    assert "只有本群的管理员" in refusal.text
    subscriber = bot.runtime.store.get_subscriber(-5001)
    assert subscriber is not None
    assert subscriber.active

    [done] = await bot.say(group, owner, "/stop")
    assert "unsubscribed" in done.text.lower()
    subscriber = bot.runtime.store.get_subscriber(-5001)
    assert subscriber is not None
    assert not subscriber.active


async def test_a_member_cannot_change_time_timezone_or_language(bot: BotHarness) -> None:
    admin, member = bot.api.user(511), bot.api.user(512)
    group = bot.api.group(-5002, "Readers", supergroup=True)
    bot.api.set_role(group, admin, "administrator")
    await bot.say(group, admin, "/start")
    for command in ("/time 07:00", "/timezone Europe/Berlin"):
        [refusal] = await bot.say(group, member, command)
        assert "only this chat's administrators" in refusal.text
    [screen] = await bot.say(group, member, "/settings")  # looking is fine
    for data in ("set:3", "setlang:0", "settime:9:0"):
        answer, _ = await bot.press(group, member, screen, data)
        assert answer.show_alert
        assert answer.text is not None
        assert "only this chat's administrators" in answer.text
    subscriber = bot.runtime.store.get_subscriber(-5002)
    assert subscriber is not None
    assert (subscriber.push_time, subscriber.timezone, subscriber.language_locked) == (
        None,
        None,
        False,
    )

    [done] = await bot.say(group, admin, "/time 07:00")
    assert "07:00" in done.text
    answer, _ = await bot.press(group, admin, screen, "setlang:0")
    assert answer.text == "已保存。"


async def test_the_bots_admins_and_anonymous_admins_may_manage_any_group(
    bot: BotHarness,
) -> None:
    member = bot.api.user(521)
    group = bot.api.group(-5003)
    await bot.say(group, member, "/start")  # any member may subscribe the group
    [done] = await bot.say(group, member, "/timezone Europe/Paris", expect=1)
    assert "only this chat's administrators" in done.text

    [done] = await bot.say(group, bot.api.user(ADMIN_ID), "/time 06:30")
    assert "06:30" in done.text
    before = len(bot.api.messages(group.id))
    bot.api.send_message(group, member, "/timezone Europe/Paris", anonymous=True)
    [done] = (await bot.api.wait_sent(group.id, before + 1))[before:]
    assert "Europe/Paris" in done.text


async def test_roles_are_cached_briefly(bot: BotHarness) -> None:
    clock = [0.0]
    bot.app.bot_data.roles = RoleCache(ttl=60.0, clock=lambda: clock[0])
    user = bot.api.user(531)
    group = bot.api.group(-5004)
    await bot.say(group, user, "/start")
    calls = bot.api.stats.calls["getChatMember"]
    await bot.say(group, user, "/time 07:00")  # refused: a member
    bot.api.set_role(group, user, "administrator")
    [still] = await bot.say(group, user, "/time 07:00")
    assert "only this chat's administrators" in still.text
    assert bot.api.stats.calls["getChatMember"] == calls + 1  # the second was cached
    clock[0] = 61.0
    [done] = await bot.say(group, user, "/time 07:00")
    assert "07:00" in done.text
    bot.api.set_role(group, user, "member")  # demoted: allowed until the read expires
    clock[0] = 200.0
    [refused] = await bot.say(group, user, "/stop")
    assert "only this chat's administrators" in refused.text


async def test_when_telegram_cannot_tell_the_role_the_change_is_refused(
    bot: BotHarness,
) -> None:
    user = bot.api.user(541)
    group = bot.api.group(-5005)
    bot.api.set_role(group, user, "creator")
    await bot.say(group, user, "/start")
    bot.api.fail_next("getChatMember", fault=Fault.bad_request("Bad Request: user not found"))
    [refused] = await bot.say(group, user, "/stop")
    assert "only this chat's administrators" in refused.text
    [done] = await bot.say(group, user, "/stop")  # a failure is not cached
    assert "unsubscribed" in done.text.lower()
