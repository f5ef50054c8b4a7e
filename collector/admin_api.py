"""Admin endpoints under /api/v1/admin/ (reprice, export, backup) for a running collector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Route

if TYPE_CHECKING:
    from claudescope.collector.app import Collector


def admin_routes(collector: Collector) -> list[Route]:
    """Routes that run admin jobs inside the collector, which holds the DuckDB lock."""
    return []
