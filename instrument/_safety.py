"""The one fault guard that keeps instrumentation faults out of the application.

Every piece of instrumentation code that runs inside an application call belongs to a named
``FaultSite``. A fault there (any ``Exception``) is swallowed, counted, and logged at DEBUG on
the ``claudescope.instrument`` logger the first time only, so the SDK call proceeds and returns
exactly what it would have without claudescope. Under strict mode (``instrument(strict=True)``,
meant for tests) the fault is re-raised instead, so a bug in the instrumentation fails the test
that hit it rather than hiding in a debug log.

The sites of one ``instrument()`` live in its ``Faults``, held by the Runtime it passes down:
no module-level state, and a new ``instrument()`` starts with fresh counts.

Two forms, one contract:

- inline, on the hot path (no extra frame, nothing paid until a fault)::

      try:
          ...
      except Exception:  # noqa: BLE001
          runtime.faults.site("request start").fault()

- as a wrapper, where a whole function is instrumentation::

      on_close = faults.site("stream close").guard(_stream.on_close)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_log = logging.getLogger("claudescope.instrument")
P = ParamSpec("P")
R = TypeVar("R")


class FaultSite:
    """One named place where instrumentation runs inside an application call."""

    __slots__ = ("name", "strict", "count")

    def __init__(self, name: str, strict: bool = False) -> None:
        self.name = name
        self.strict = strict
        self.count = 0

    def fault(self) -> None:
        """Call inside ``except Exception:``: count the exception being handled and log it
        (first time only); under strict mode re-raise it instead."""
        self.count += 1
        if self.strict:
            raise  # noqa: PLE0704 - re-raises the exception the caller is handling
        if self.count == 1:
            _log.debug("claudescope instrumentation fault in %s", self.name, exc_info=True)

    def guard(self, fn: Callable[P, R], default: R | None = None) -> Callable[P, R | None]:
        """``fn`` wrapped so that a fault in it goes to this site and returns ``default``."""

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
            try:
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the whole point: never reach the app
                self.fault()
                return default

        return wrapper


class Faults:
    """The fault sites of one ``instrument()``, made on first use, and its strict switch."""

    __slots__ = ("strict", "_sites")

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._sites: dict[str, FaultSite] = {}

    def site(self, name: str) -> FaultSite:
        """The site called ``name`` (the same object every time)."""
        site = self._sites.get(name)
        if site is None:
            site = self._sites[name] = FaultSite(name, self.strict)
        return site

    def counts(self) -> dict[str, int]:
        """Faults seen so far, by site name (sites that never faulted included once used)."""
        return {name: site.count for name, site in self._sites.items()}
