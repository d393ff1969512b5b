"""Group roles: getChatMember and getChatAdministrators shaped as Telegram answers them."""

from __future__ import annotations

import aiohttp
import pytest
from telegram import (
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
)
from telegram.error import BadRequest

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


async def test_roles_parse_as_ptbs_chat_member_classes(loopback_api: LoopbackBotApi) -> None:
    group = loopback_api.group(-1001, "Readers", supergroup=True)
    owner, admin, member, gone = (loopback_api.user(i) for i in (11, 12, 13, 14))
    loopback_api.set_role(group, owner, "creator", custom_title="boss")
    loopback_api.set_role(group, admin, "administrator", rights={"can_change_info": False})
    loopback_api.send_message(group, member, "hello")  # writing makes a member
    loopback_api.set_role(group, gone, "kicked")
    async with bot_for(loopback_api) as bot:
        got_owner = await bot.get_chat_member(-1001, 11)
        got_admin = await bot.get_chat_member(-1001, 12)
        got_member = await bot.get_chat_member(-1001, 13)
        got_kicked = await bot.get_chat_member(-1001, 14)
        got_me = await bot.get_chat_member(-1001, bot.id)
        admins = await bot.get_chat_administrators(-1001)
    assert isinstance(got_owner, ChatMemberOwner)
    assert got_owner.custom_title == "boss"
    assert isinstance(got_admin, ChatMemberAdministrator)
    assert got_admin.can_change_info is False
    assert got_admin.can_manage_topics is False  # a supergroup right
    assert got_admin.can_post_messages is None  # a channel right, absent in groups
    assert isinstance(got_member, ChatMemberMember)
    assert isinstance(got_kicked, ChatMemberBanned)
    assert isinstance(got_me, ChatMemberMember)
    assert [m.user.id for m in admins] == [11, 12]


async def test_a_stranger_has_left_and_an_unknown_user_is_refused(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.group(-1002)
    loopback_api.user(21)
    async with bot_for(loopback_api) as bot:
        assert isinstance(await bot.get_chat_member(-1002, 21), ChatMemberLeft)
        with pytest.raises(BadRequest, match="User not found"):
            await bot.get_chat_member(-1002, 999)
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.get_chat_member(-1003, 21)
        with pytest.raises(BadRequest, match="no administrators in the private chat"):
            await bot.get_chat_administrators(21)


async def test_an_unknown_status_or_right_is_refused(loopback_api: LoopbackBotApi) -> None:
    group = loopback_api.group(-1004)
    user = loopback_api.user(31)
    with pytest.raises(ValueError, match="unknown status"):
        loopback_api.set_role(group, user, "owner")
    with pytest.raises(ValueError, match="no such right"):
        loopback_api.set_role(group, user, "administrator", rights={"can_post_messages": True})


async def test_control_api_sets_a_role(loopback_api: LoopbackBotApi) -> None:
    loopback_api.group(-1005)
    control = loopback_api.control_url
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{control}/member", json={"chat_id": -1005, "user_id": 41, "status": "administrator"}
        ) as resp:
            assert (await resp.json())["result"] == {"status": "administrator"}
        async with session.post(
            f"{control}/member", json={"chat_id": -1005, "user_id": 41, "status": "boss"}
        ) as resp:
            assert resp.status == 400
    async with bot_for(loopback_api) as bot:
        assert isinstance(await bot.get_chat_member(-1005, 41), ChatMemberAdministrator)
