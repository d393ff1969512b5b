"""The loopback Bot API server, split by concern; import it from bot.telegram.loopback_api."""
