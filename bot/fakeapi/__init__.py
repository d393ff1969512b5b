"""A fake Telegram Bot API on 127.0.0.1, and a console that chats with the real bot through it.

``server`` holds :class:`~bot.fakeapi.server.LoopbackBotApi`, which routes Bot API methods to
one collaborator per concern (``chats``, ``messages``, ``callbacks``, ``commands``,
``updates``, ``webhook``, ``faults``, ``limits``); ``control`` is its HTTP user side for other
processes; ``models`` and ``params`` hold its records and request decoding. ``console`` and
``terminal`` are ``digestbot console``. Nothing here imports python-telegram-bot, except that
the console drives the real bot through ``bot.telegram``.
"""
