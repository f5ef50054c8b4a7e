"""The store's errors: one tree, so callers catch the store's meaning and never a DuckDB type.

``StoreError`` is the root. DuckDB's own errors are translated at the store's edge
(:func:`translate`); nothing from ``duckdb`` escapes a Store method.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import duckdb

P = ParamSpec("P")
R = TypeVar("R")


class StoreError(RuntimeError):
    """The store cannot do what was asked (the message is for the operator)."""


class StoreUnavailable(StoreError):
    """The file cannot be opened, read or written right now (locked, closed, disk full,
    invalidated by a fatal error)."""


class StoreVersionError(StoreUnavailable):
    """The data directory was written by a newer claudescope than this one."""


class MigrationError(StoreError):
    """The migration files are inconsistent, or a store's applied migration differs from its file."""


class Conflict(StoreError):
    """A write met a constraint or a concurrent transaction; nothing of it was written."""


class QueryRefused(StoreError, ValueError):
    """The SQL or the request is not one the store runs (answer 400): not a single read-only
    query, or a table that does not exist."""


class QueryFailed(StoreError, ValueError):
    """DuckDB raised while running a query (a type error, a missing column ...)."""


class QueryTimeout(StoreError):
    """A read query ran past its time limit and was interrupted."""


class QueryTooLarge(StoreError):
    """A query needed more memory than the collector's budget (answer 413)."""


class QueryBusy(StoreError):
    """Every user-query slot stayed busy (answer 429 with Retry-After)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (DuckDB appends hints and stack lines)."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def translated(exc: duckdb.Error) -> StoreError:
    """The store error that says what ``exc`` means for the caller."""
    if isinstance(exc, (duckdb.IOException, duckdb.FatalException, duckdb.ConnectionException)):
        return StoreUnavailable(first_line(exc))
    if isinstance(exc, (duckdb.ConstraintException, duckdb.TransactionException)):
        return Conflict(first_line(exc))
    if isinstance(exc, duckdb.InterruptException):
        return QueryTimeout(first_line(exc))
    if isinstance(exc, duckdb.OutOfMemoryException):
        return QueryTooLarge(first_line(exc))
    return QueryFailed(first_line(exc))


@contextmanager
def translate() -> Iterator[None]:
    """Re-raise a DuckDB error inside the block as the store error it means."""
    try:
        yield
    except duckdb.Error as exc:
        raise translated(exc) from exc


def translating(method: Callable[P, R]) -> Callable[P, R]:
    """Decorate a public Store method so DuckDB errors leave it as store errors."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate():
            return method(*args, **kwargs)

    return wrapper
