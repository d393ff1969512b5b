"""The bot's command lists: setMyCommands, getMyCommands and deleteMyCommands."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.fakeapi.params import as_json, as_str, bad_request, dumps

_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


class CommandLists:
    """Store command lists per scope and language, validated as Telegram validates them."""

    def __init__(self) -> None:
        self._lists: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def get(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Return the commands stored for this scope and language."""
        return self._lists.get((scope_key(scope), language_code), [])

    def listing(self) -> list[dict[str, Any]]:
        """Return every stored list with its scope and language."""
        return [
            {"scope": json.loads(scope), "language_code": lang, "commands": listed}
            for (scope, lang), listed in self._lists.items()
        ]

    def set_my_commands(self, params: dict[str, Any]) -> str:
        """Store a list: setMyCommands."""
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
        key = _key(params)
        if commands:
            self._lists[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._lists.pop(key, None)
        return "true"

    def get_my_commands(self, params: dict[str, Any]) -> str:
        """Return a list: getMyCommands."""
        return dumps(self._lists.get(_key(params), []))

    def delete_my_commands(self, params: dict[str, Any]) -> str:
        """Drop a list: deleteMyCommands."""
        self._lists.pop(_key(params), None)
        return "true"


def _key(params: dict[str, Any]) -> tuple[str, str]:
    scope, _ = as_json(params, "scope")
    return scope_key(scope), as_str(params, "language_code") or ""


def scope_key(scope: Any) -> str:
    """Return the canonical JSON of a BotCommandScope (default when absent)."""
    if not scope:
        scope = {"type": "default"}
    return str(json.dumps(scope, sort_keys=True, separators=(",", ":")))
