"""The web reader: an article on one page, and the archive, for phones and Telegram Mini Apps.

`access` decides who may read (pure), `links` makes the bot's reader buttons (pure), and `app`
serves the pages with aiohttp, rendered from ``templates/web/`` (`bot.reader` builds their
contexts). Served by `digestbot web`, or beside the webhook by `digestbot run --webhook`.
"""
