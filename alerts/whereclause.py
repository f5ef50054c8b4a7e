"""Validate a rule's ``where`` filter before it is pasted into alert SQL.

The filter is a boolean expression over the ``calls`` view's columns. It is tokenised and
checked against allow-lists (columns, operators, a few keywords and scalar functions), so it
cannot end the statement, open a comment, reach another table or start a sub-query.
"""

from __future__ import annotations

import re

from claudescope.schema import CALL_COLUMN_NAMES

_KEYWORDS = frozenset({
    "and", "or", "not", "in", "is", "null", "like", "ilike", "between", "true", "false",
    "case", "when", "then", "else", "end", "escape",
})
_FUNCTIONS = frozenset({
    "lower", "upper", "coalesce", "length", "abs", "starts_with", "ends_with", "contains",
    "regexp_matches", "json_extract", "json_extract_string", "date_part", "hour", "round",
})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>->>|->|<=|>=|<>|!=|\|\||[=<>(),+\-*/%])
    """,
    re.VERBOSE,
)
_FORBIDDEN_HINTS = {";": "a second statement", "--": "a comment", "/*": "a comment", '"': "quoted identifiers"}


class WhereError(ValueError):
    """The filter is not an allowed expression; the message says why."""


def validate_where(text: str) -> str:
    """Return the filter unchanged if it is a safe boolean expression over ``calls`` columns.

    Raises:
        WhereError: on an unknown column or function, a disallowed character, a statement
            separator, a comment or unbalanced parentheses.
    """
    if not isinstance(text, str) or not text.strip():
        raise WhereError("empty filter")
    for fragment, meaning in _FORBIDDEN_HINTS.items():
        if fragment in text:
            raise WhereError(f"{fragment!r} is not allowed ({meaning})")
    tokens = _tokenise(text)
    _check_parens(tokens)
    _check_words(tokens)
    return text


def _tokenise(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise WhereError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def _check_words(tokens: list[tuple[str, str]]) -> None:
    columns = set(CALL_COLUMN_NAMES)
    for index, (kind, value) in enumerate(tokens):
        if kind != "word":
            continue
        word = value.lower()
        followed_by_paren = index + 1 < len(tokens) and tokens[index + 1][1] == "("
        if followed_by_paren and word in _FUNCTIONS:
            continue
        if word in _KEYWORDS or value in columns:
            continue
        if followed_by_paren:
            raise WhereError(f"function {value!r} is not allowed; allowed: {sorted(_FUNCTIONS)}")
        raise WhereError(f"unknown column {value!r} (the filter may use the columns of the calls view)")


def _check_parens(tokens: list[tuple[str, str]]) -> None:
    depth = 0
    for _, value in tokens:
        depth += value == "("
        depth -= value == ")"
        if depth < 0:
            raise WhereError("unbalanced ')'")
    if depth:
        raise WhereError("unbalanced '('")
