"""The alert engine (interface stub; full implementation lands shortly)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from claudescope.config import Config


class AlertEngine:
    """Evaluates alert rules on ingest and on a timer, and delivers notifications."""

    def __init__(self, config: Config, store: Any) -> None:
        self._config = config
        self._store = store

    def on_commit(self, batch: pa.Table) -> None:
        """Called by the store after each durable commit of ``calls`` rows; cheap."""

    def start(self) -> None:
        """Start the background evaluation and delivery threads."""

    def stop(self) -> None:
        """Stop the background threads (pending deliveries stay in the outbox)."""
