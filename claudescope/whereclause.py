"""Validate an alert rule's ``where`` filter before it is pasted into alert SQL.

Pure and in the core, so the config loader checks every rule's filter at load (naming the key and
the file) with the very parser the alert engine uses when it compiles the rule.

The filter is a boolean expression over the ``calls`` view's columns. It is tokenised and
checked against allow-lists (columns, operators, a few keywords and scalar functions), so it
cannot end the statement, open a comment, reach another table or start a sub-query. The pattern
of a ``regexp_matches`` call must be a literal that compiles, so a bad pattern stops start-up
(naming the rule's key) instead of failing every evaluation.
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
# DuckDB's regular expressions are RE2: Python's ``re`` checks the syntax, and these constructs,
# valid in Python but not in RE2, are refused by name.
_RE2_MISSING = {"(?=": "lookahead", "(?!": "lookahead", "(?<=": "lookbehind", "(?<!": "lookbehind", "(?>": "atomic groups"}
_RE2_BACKREFERENCE = re.compile(r"\\[1-9]")
_REGEX_OPTIONS = frozenset("cilmnpgs")  # DuckDB's regexp_matches options
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
    _check_regexes(tokens)
    return text


def check_regex(pattern: str) -> None:
    """Raise WhereError unless ``pattern`` is a regular expression DuckDB (RE2) accepts."""
    for fragment, name in _RE2_MISSING.items():
        if fragment in pattern:
            raise WhereError(f"regular expression {pattern!r}: {name} ({fragment}) is not supported")
    if _RE2_BACKREFERENCE.search(pattern):
        raise WhereError(f"regular expression {pattern!r}: backreferences are not supported")
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise WhereError(f"invalid regular expression {pattern!r}: {exc}") from None


def _check_regexes(tokens: list[tuple[str, str]]) -> None:
    for index, (kind, value) in enumerate(tokens):
        if kind == "word" and value.lower() == "regexp_matches" and index + 1 < len(tokens) and tokens[index + 1][1] == "(":
            args = _arguments(tokens, index + 2)
            if len(args) not in (2, 3) or any(len(arg) != 1 or arg[0][0] != "string" for arg in args[1:]):
                raise WhereError("regexp_matches(column, 'pattern'[, 'options']) needs a quoted pattern")
            check_regex(_literal(args[1][0][1]))
            if len(args) == 3 and not set(_literal(args[2][0][1])) <= _REGEX_OPTIONS:
                raise WhereError(f"regexp_matches options must be letters from {''.join(sorted(_REGEX_OPTIONS))!r}")


def _arguments(tokens: list[tuple[str, str]], start: int) -> list[list[tuple[str, str]]]:
    """The comma-separated arguments of the call whose '(' is just before ``start``."""
    args: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for token in tokens[start:]:
        if token[1] == ")" and depth == 0:
            break
        depth += (token[1] == "(") - (token[1] == ")")
        if token[1] == "," and depth == 0:
            args.append([])
        else:
            args[-1].append(token)
    return args


def _literal(token: str) -> str:
    return token[1:-1].replace("''", "'")


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
