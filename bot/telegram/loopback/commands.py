"""The bot's command lists: setMyCommands, getMyCommands and deleteMyCommands."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.telegram.loopback.params import as_json, as_str, bad_request, dumps
from bot.telegram.loopback.state import ServerState

_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


class CommandsMixin(ServerState):
    """Store command lists per scope and language, validated as Telegram validates them."""

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope, _ = as_json(params, "scope")
        return scope_key(scope), as_str(params, "language_code") or ""

    def _set_my_commands(self, params: dict[str, Any]) -> str:
        commands, _ = as_json(params, "commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND.fullmatch(
                str(command.get("command", ""))
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return "true"

    def _get_my_commands(self, params: dict[str, Any]) -> str:
        return dumps(self.commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: dict[str, Any]) -> str:
        self.commands.pop(self._commands_key(params), None)
        return "true"


def scope_key(scope: Any) -> str:
    """Return the canonical JSON of a BotCommandScope (default when absent)."""
    if not scope:
        scope = {"type": "default"}
    return str(json.dumps(scope, sort_keys=True, separators=(",", ":")))
