"""The command table: every command, its arguments, and where it is listed.

Each command has two catalogue strings, ``cmd_<name>`` (the menu entry, set with setMyCommands)
and ``help_<name>`` (its line in /help), and its argument synopsis is a catalogue key too
(``arg_*``), so /help names the arguments in the reader's language. tests/test_i18n_meta.py
checks they exist in every language. A new command is one row here plus its handler in
``app.register_handlers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import BotCommand

from bot.i18n import Lang
from bot.rendering import Renderer


@dataclass(frozen=True, slots=True)
class Command:
    """One bot command: its name, its argument synopsis, and who sees it."""

    name: str
    args: str = ""  # the catalogue key of the argument synopsis (arg_*), or none
    admin: bool = False  # only ADMIN_IDS may run it; listed in /help for them only
    menu: bool = True  # listed in the client's command menu

    def usage(self, renderer: Renderer, lang: Lang) -> str:
        """Return `/name args` as /help shows it in `lang`."""
        if not self.args:
            return f"/{self.name}"
        return f"/{self.name} {renderer.text(self.args, lang)}"


COMMANDS: tuple[Command, ...] = (
    Command("start"),
    Command("latest", "arg_optional_topic"),
    Command("list", "arg_list"),
    Command("article", "arg_id"),
    Command("search", "arg_words"),
    Command("full", "arg_full"),
    Command("risks", "arg_optional_id"),
    Command("topics"),
    Command("follow", "arg_topic"),
    Command("unfollow", "arg_topic"),
    Command("settings"),
    Command("time", "arg_time"),
    Command("timezone", "arg_timezone"),
    Command("channels"),
    Command("channel", "arg_channel", menu=False),
    Command("help"),
    Command("stop"),
    Command("unsubscribe", menu=False),
    Command("stats", admin=True, menu=False),
    Command("reload", admin=True, menu=False),
    Command("pushnow", admin=True, menu=False),
    Command("preview", admin=True, menu=False),
)


def command_usage(renderer: Renderer, lang: Lang, name: str) -> str:
    """Return `/name args` of the named command in `lang` (just `/name` if it is unknown)."""
    found = next((c for c in COMMANDS if c.name == name), Command(name))
    return found.usage(renderer, lang)


def menu_commands(renderer: Renderer, lang: Lang) -> list[BotCommand]:
    """Return the command menu in one language (admin commands are not listed)."""
    return [BotCommand(c.name, renderer.text(f"cmd_{c.name}", lang)) for c in COMMANDS if c.menu]


def help_lines(renderer: Renderer, lang: Lang, *, admin: bool) -> list[dict[str, str]]:
    """Return /help's rows (usage and text), admin commands only for admins."""
    return [
        {"usage": c.usage(renderer, lang), "text": renderer.text(f"help_{c.name}", lang)}
        for c in COMMANDS
        if admin or not c.admin
    ]
