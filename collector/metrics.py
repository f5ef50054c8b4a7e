"""Ingest counters and their Prometheus text rendering (GET /metrics)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class Metrics:
    """Thread-safe counters the HTTP, gRPC and writer paths update."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # by outcome: ok, partial, bad_request, throttled, ...
        self.spans_received = 0
        self.spans_stored = 0
        self.spans_ignored = 0
        self.rejected: Counter[str] = Counter()
        self.unpriced_calls = 0
        self.truncated_values = 0
        self.dropped_attributes = 0
        self.commits = 0
        self.commit_seconds_sum = 0.0
        self.commit_seconds_max = 0.0
        self.commit_failures = 0

    def count_request(self, outcome: str) -> None:
        """One more request with this outcome."""
        with self._lock:
            self.requests[outcome] += 1

    def count_batch(self, *, received: int, ignored: int, rejected: Counter[str], unpriced: int, truncated: int, dropped: int) -> None:
        """Account one decoded request."""
        with self._lock:
            self.spans_received += received
            self.spans_ignored += ignored
            self.rejected.update(rejected)
            self.unpriced_calls += unpriced
            self.truncated_values += truncated
            self.dropped_attributes += dropped

    def count_commit(self, *, rows: int, seconds: float, ok: bool) -> None:
        """Account one group commit."""
        with self._lock:
            if not ok:
                self.commit_failures += 1
                return
            self.commits += 1
            self.spans_stored += rows
            self.commit_seconds_sum += seconds
            self.commit_seconds_max = max(self.commit_seconds_max, seconds)

    def render(self, gauges: dict[str, tuple[str, float]], *, labelled: Callable[[], dict[str, dict[str, float]]] | None = None) -> str:
        """Prometheus text exposition: counters plus the given gauges {name: (help, value)}."""
        with self._lock:
            lines: list[str] = []
            _metric(lines, "claudescope_spans_received_total", "counter", "Spans received in OTLP requests", self.spans_received)
            _metric(lines, "claudescope_calls_stored_total", "counter", "Call rows durably committed", self.spans_stored)
            _metric(lines, "claudescope_spans_ignored_total", "counter", "Spans that are not Claude calls", self.spans_ignored)
            _labelled(lines, "claudescope_spans_rejected_total", "counter", "Spans rejected, by reason", "reason", self.rejected)
            _labelled(lines, "claudescope_requests_total", "counter", "Ingest requests, by outcome", "outcome", self.requests)
            _metric(lines, "claudescope_unpriced_calls_total", "counter", "Calls ingested with no known price", self.unpriced_calls)
            _metric(lines, "claudescope_truncated_attribute_values_total", "counter", "Attribute values truncated", self.truncated_values)
            _metric(lines, "claudescope_dropped_attributes_total", "counter", "Attributes dropped over the per-span limit", self.dropped_attributes)
            _metric(lines, "claudescope_commits_total", "counter", "Group commits", self.commits)
            _metric(lines, "claudescope_commit_failures_total", "counter", "Failed group commits", self.commit_failures)
            _metric(lines, "claudescope_commit_seconds_sum", "counter", "Total time in group commits", self.commit_seconds_sum)
            _metric(lines, "claudescope_commit_seconds_max", "gauge", "Slowest group commit", self.commit_seconds_max)
        for name, (help_text, value) in gauges.items():
            _metric(lines, name, "gauge", help_text, value)
        return "\n".join(lines) + "\n"


def _metric(lines: list[str], name: str, kind: str, help_text: str, value: float) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {_fmt(value)}"]


def _labelled(lines: list[str], name: str, kind: str, help_text: str, label: str, values: Counter[str]) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for key, value in sorted(values.items()):
        escaped = key.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        lines.append(f'{name}{{{label}="{escaped}"}} {_fmt(value)}')


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
