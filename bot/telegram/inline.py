"""Inline mode's handler: `@bot words` in any chat answered with articles' digests.

Thin: parse the query and offset (bot.arguments), pick the articles and build the results
(bot.inline), turn them into InlineQueryResultArticle objects, answer. Inline mode must be
switched on for the bot with @BotFather's /setinline.
"""

from __future__ import annotations

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode

from bot.arguments import INLINE_START_PAYLOAD, parse_inline_offset, parse_inline_query
from bot.i18n import language_for
from bot.inline import InlineResult, inline_results, select_articles
from bot.telegram.context import DigestContext, lang_of
from bot.telegram.keyboards import markup

# The posted digest links to the original with a button; a preview would repeat it, larger.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def _article(result: InlineResult) -> InlineQueryResultArticle:
    """Return the PTB result for one plain result."""
    return InlineQueryResultArticle(
        result.id,
        result.title,
        InputTextMessageContent(
            result.html, parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW
        ),
        reply_markup=markup([result.buttons]),
        description=result.description,
    )


async def inline_query(update: Update, context: DigestContext) -> None:
    """Answer an inline query with matching articles (newest first without words), paged."""
    query = update.inline_query
    if query is None:
        return
    request = parse_inline_query(query.query)
    offset = parse_inline_offset(query.offset)
    user = query.from_user
    subscriber = await context.db(context.store.get_subscriber, user.id)
    # The language the person chose in their chat with the bot, else their client's.
    lang = lang_of(subscriber, language_for(user.language_code))
    page = await context.db(select_articles, context.store, request, offset)
    results = inline_results(context.digests, page.articles, lang, context.bot.username)
    button = None
    if not results and not offset:
        label = context.renderer.text("inline_open_bot", lang)
        button = InlineQueryResultsButton(label, start_parameter=INLINE_START_PAYLOAD)
    await query.answer(
        [_article(r) for r in results],
        cache_time=context.settings.inline_cache_time,
        # The results are in this person's language: never serve them to someone else.
        is_personal=True,
        # None, not "": PTB 22.8 with Defaults sends an empty next_offset as "[]", which a
        # client would send back as the offset of a next page that does not exist.
        next_offset=page.next_offset or None,
        button=button,
    )
