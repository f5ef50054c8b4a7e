"""The guard that keeps instrumentation faults out of the application.

Every piece of instrumentation code that runs inside an application call goes through
``guard``: an exception there is logged once per call site at DEBUG and swallowed, so the
SDK call proceeds and returns exactly what it would have without claudescope.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_log = logging.getLogger("claudescope.instrument")
P = ParamSpec("P")
R = TypeVar("R")


def guard(default: R | None = None) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """Decorate an instrumentation helper so that any Exception it raises returns ``default``."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R | None]:
        warned = False

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
            nonlocal warned
            try:
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the whole point: never reach the app
                if not warned:
                    warned = True
                    _log.debug("claudescope instrumentation fault in %s", fn.__qualname__, exc_info=True)
                return default

        return wrapper

    return decorate


class FaultSite:
    """The same contract as ``guard`` for a try/except written inline on the hot path (a
    decorated call costs a frame there): ``site.fault()`` inside ``except Exception`` logs the
    active exception at DEBUG, once per site."""

    __slots__ = ("name", "warned")

    def __init__(self, name: str) -> None:
        self.name = name
        self.warned = False

    def fault(self) -> None:
        """Log the exception being handled (first time only) and carry on."""
        if not self.warned:
            self.warned = True
            _log.debug("claudescope instrumentation fault in %s", self.name, exc_info=True)
