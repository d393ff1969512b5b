"""Bot API request parameters: decoding bodies, coercing values, validating keyboards."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from yarl import URL

from bot.errors import DigestError

# One encoder for every response: json.dumps with keyword arguments builds a new one per call.
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_CALLBACK_DATA_MAX_BYTES = 64
_URL_SCHEMES = frozenset({"http", "https", "tg"})


class ApiError(DigestError):
    """A Bot API call is refused with this status, description and parameters."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def bad_request(what: str) -> ApiError:
    """Return a 400 error with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {what}")


async def read_params(request: web.Request) -> dict[str, Any]:
    """Return the call's parameters from the query string and a form, multipart or JSON body."""
    params: dict[str, Any] = {}
    if request.query_string:
        params.update(_parse_form(request.query_string))
    if not request.body_exists:
        return params
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded":
        body = await request.read()
        params.update(_parse_form(body.decode("utf-8", "replace")))
    elif ctype == "application/json":
        body = await request.read()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise bad_request("can't parse JSON body") from exc
            if not isinstance(data, dict):
                raise bad_request("JSON body must be an object")
            params.update(data)
    elif ctype.startswith("multipart/"):
        form = await request.post()
        params.update((k, v) for k, v in form.items() if isinstance(v, str))
    return params


def _parse_form(text: str) -> dict[str, str]:
    """Decode an application/x-www-form-urlencoded string."""
    if "#" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    # yarl's C unquoter is ~10x faster than urllib's for a 1 KB message text.
    return dict(URL.build(query_string=text, encoded=True).query)


def as_int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    """Return an integer parameter; form fields arrive as strings."""
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise bad_request(f"{name} is empty")
        return default
    if isinstance(value, bool):
        raise bad_request(f"{name} is invalid")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"{name} is invalid") from exc


def as_float(params: dict[str, Any], name: str, default: float) -> float:
    """Return a number parameter (a long-poll timeout may be fractional)."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"{name} is invalid") from exc


def as_opt_int(params: dict[str, Any], name: str) -> int | None:
    """Return an optional integer parameter."""
    if params.get(name) in (None, ""):
        return None
    return as_int(params, name)


def as_bool(params: dict[str, Any], name: str) -> bool:
    """Return a boolean parameter; PTB sends JSON "true"/"false" in forms."""
    value = params.get(name)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def as_str(params: dict[str, Any], name: str) -> str | None:
    """Return a string parameter, or None when absent."""
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def as_json(params: dict[str, Any], name: str) -> tuple[Any, str | None]:
    """Return a JSON-valued parameter decoded, and its JSON text (form fields carry JSON)."""
    value = params.get(name)
    if value is None or value == "":
        return None, None
    if isinstance(value, str):
        try:
            return json.loads(value), value
        except ValueError as exc:
            raise bad_request(f"can't parse {name} JSON object") from exc
    return value, dumps(value)


def check_reply_markup(markup: Any) -> None:
    """Refuse keyboards Telegram refuses: long callback_data, bad button URLs."""
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return
    if not isinstance(rows, list):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
            )
        for button in row:
            _check_button(button)


def _check_button(button: Any) -> None:
    """Refuse one malformed inline keyboard button."""
    if not isinstance(button, dict) or not button.get("text"):
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(str(data).encode("utf-8"))
        if not isinstance(data, str) or not 1 <= size <= _CALLBACK_DATA_MAX_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "web_app" in button:
        web_app = button["web_app"]
        # Telegram opens Mini Apps over https only.
        app_url = str(web_app.get("url", "")) if isinstance(web_app, dict) else ""
        if urlsplit(app_url).scheme.lower() != "https" or not urlsplit(app_url).hostname:
            raise bad_request("BUTTON_URL_INVALID")
    if "url" in button:
        url = str(button["url"])
        parts = urlsplit(url)
        if parts.scheme.lower() not in _URL_SCHEMES or (
            parts.scheme.lower() != "tg" and not parts.hostname
        ):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid")
