"""Who may change a chat's subscription: the one place that asks Telegram for roles.

In a private chat its user may; in a group or channel only its owner and administrators (as
getChatMember tells, cached by :class:`bot.roles.RoleCache`) and the bot's ADMIN_IDS. An
anonymous administrator writes as the group itself (``sender_chat``), which only
administrators can.
"""

from __future__ import annotations

import logging

from telegram import ChatMember, ChatMemberAdministrator, ChatMemberOwner, Update
from telegram.error import TelegramError

from bot.roles import MemberRole
from bot.telegram.context import ChatInfo, DigestContext

log = logging.getLogger(__name__)


def member_role(member: ChatMember) -> MemberRole:
    """Return the plain role of a PTB ChatMember."""
    if isinstance(member, ChatMemberOwner):
        return MemberRole(member.status, can_post=True)
    if isinstance(member, ChatMemberAdministrator):
        # can_post_messages is set only in channels; elsewhere an admin may post anyway.
        return MemberRole(member.status, can_post=member.can_post_messages is not False)
    return MemberRole(member.status, can_post=member.status in ("member", "restricted"))


async def role_of(context: DigestContext, chat_id: int, user_id: int) -> MemberRole:
    """Return a user's role in a chat, from the cache or getChatMember."""

    async def fetch(chat: int, user: int) -> MemberRole:
        return member_role(await context.bot.get_chat_member(chat, user))

    return await context.bot_data.roles.role(chat_id, user_id, fetch)


async def may_manage(
    context: DigestContext, chat: ChatInfo, *, sender_chat_id: int | None = None
) -> bool:
    """Tell whether the sender may stop the chat's subscription or change its settings."""
    if chat.is_private or (
        chat.user_id is not None and chat.user_id in context.settings.admin_ids
    ):
        return True
    if sender_chat_id == chat.id:  # an anonymous administrator of this group
        return True
    if chat.user_id is None:
        return False
    try:
        role = await role_of(context, chat.id, chat.user_id)
    except TelegramError as exc:
        # Not knowing is no licence: refuse, and let the person try again.
        log.warning(
            "could not read the role of user %s in chat %s: %s", chat.user_id, chat.id, exc
        )
        return False
    return role.is_admin


async def manager_only(update: Update, context: DigestContext, chat: ChatInfo) -> bool:
    """Return True if the sender may manage the chat; else refuse politely in their language."""
    message = update.effective_message
    sender = message.sender_chat.id if message and message.sender_chat else None
    if await may_manage(context, chat, sender_chat_id=sender):
        return True
    log.info("refused a settings change in chat %s from user %s", chat.id, chat.user_id)
    await context.reply(chat, chat.user_lang).notice("chat_admins_only")
    return False
