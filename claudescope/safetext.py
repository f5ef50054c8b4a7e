"""Values that came from spans, made safe to show: one line, every character visible, bounded.

A span attribute is whatever the instrumented application (or anyone who can reach the
collector) put there. Before such a value reaches a person (a dashboard page, an alert) it goes
through :func:`visible`, so it cannot add lines, reorder text with bidi overrides, hide
characters, or grow a message without limit. Rendering it inert in a markup language is the
caller's job (Markdown in the dashboard, each channel's dialect in alerts).
"""

from __future__ import annotations

import unicodedata

VALUE_LIMIT = 120
ELLIPSIS = "…"

# Control, format (bidi overrides and isolates, zero-width characters, BOM, tag characters),
# line/paragraph separators and lone surrogates: shown as escapes, never passed through.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(char: str) -> str:
    """``char`` itself, or a visible escape (``\\n``, ``\\u202e``) when it is hidden or a control."""
    if unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    short = _SHORT_ESCAPES.get(char)
    if short:
        return short
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(value: object, limit: int = VALUE_LIMIT) -> str:
    """``value`` as one line of visible text, at most ``limit`` characters (then ``…``).

    None is the empty string. Escapes count towards the limit, and one is never cut in half.
    """
    text = "" if value is None else str(value)
    out: list[str] = []
    size = 0
    for char in text:
        piece = escape_char(char)
        if size + len(piece) > limit:
            out.append(ELLIPSIS)
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def quoted(value: object, limit: int = VALUE_LIMIT) -> str:
    """``value`` between double quotes, so a reader sees where it begins and ends.

    Backslashes and quotes inside are escaped, so a value cannot fake its own end.
    """
    text = "" if value is None else str(value)
    return '"' + visible(text.replace("\\", "\\\\").replace('"', '\\"'), limit) + '"'
