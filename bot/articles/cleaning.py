"""Text cleaning shared by the parsers: control characters out, values on one line."""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, C1 controls and the BOM: invisible, rejected by YAML and
# by Telegram, so they never reach a field. \r is handled before this (it is a line break).
# Lone surrogates too: no UTF-8 file holds one, and none can be encoded to be sent.
CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")


def normalize_text(text: str) -> str:
    """Turn every line break into "\\n" and remove control characters."""
    return CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line_text(value: str) -> str:
    """Return value on one line: controls removed, whitespace runs (newlines too) → one space."""
    return " ".join(CONTROL_RE.sub("", value.replace("\r", " ")).split())
