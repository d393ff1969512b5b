"""digestbot: a Telegram bot that turns Markdown articles into a daily digest."""
