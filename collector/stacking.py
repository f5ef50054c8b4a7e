"""One row per logical call when several producers trace the same call (SPEC §2).

Stacked instrumentations (claudescope, the SDK's own tracer, OpenLLMetry, ...) each emit a span
for one API call, in the same trace. Two call spans are the same call when they carry the same
response id, or when one is the parent of the other and they come from different producers. The
preferred copy (lowest source rank: claudescope's richer row first) stays visible in ``calls``;
the others are kept but marked superseded.

Matching uses a bounded index of recent call spans per trace (stacked spans of one call are
exported within seconds of each other), reloaded from the store at start-up.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from claudescope.collector.columns import SPANS_ARROW_SCHEMA

_KEY_COLUMNS = ("trace_id", "span_id", "parent_span_id", "response_id", "source_rank", "source")
_SUPERSEDED = SPANS_ARROW_SCHEMA.names.index("superseded")


@dataclass(slots=True)
class _Entry:
    span_id: str
    parent: str | None
    response_id: str | None
    rank: int
    source: str
    superseded: bool


class StackIndex:
    """Recent call spans by trace, deciding which copy of a call stays visible."""

    def __init__(self, max_traces: int = 100_000) -> None:
        self._max = max_traces
        self._traces: OrderedDict[str, list[_Entry]] = OrderedDict()
        # Producers stacked on one call do not always share a trace (an outer wrapper may start a
        # root span of its own), so the response id is also matched across traces.
        self._responses: OrderedDict[str, tuple[str, _Entry]] = OrderedDict()

    def preload(self, rows: Iterable[tuple[str, str, str | None, str | None, int, str, bool]]) -> None:
        """Seed with (trace_id, span_id, parent, response_id, rank, source, superseded), oldest first."""
        for trace_id, span_id, parent, response_id, rank, source, superseded in rows:
            self._add(trace_id, _Entry(span_id, parent, response_id, int(rank), source, bool(superseded)))

    def resolve(self, table: pa.Table) -> tuple[pa.Table, list[tuple[str, str]]]:
        """Mark each new row superseded or not; returns (rows, keys of stored rows now superseded)."""
        newly: list[tuple[str, str]] = []
        columns = [table.column(name).to_pylist() for name in _KEY_COLUMNS]
        flags = [self._resolve_one(*row, newly) for row in zip(*columns, strict=True)]
        if any(flags):
            flags = [a or b for a, b in zip(flags, table.column("superseded").to_pylist(), strict=True)]
            table = table.set_column(_SUPERSEDED, "superseded", pa.array(flags, pa.bool_()))
        return table, newly

    def _resolve_one(
        self, trace_id: str, span_id: str, parent: str | None, response_id: str | None, rank: int, source: str,
        newly: list[tuple[str, str]],
    ) -> bool:
        """Index one new call span; True when another copy of the same call is preferred."""
        entries = self._traces.get(trace_id) or []
        entry = _Entry(span_id, parent, response_id, rank, source, False)
        if any(e.span_id == span_id for e in entries):
            return False  # a resend: the store ignores it, first copy wins
        candidates = [(trace_id, e) for e in entries]
        twin = self._responses.get(response_id) if response_id else None
        if twin is not None and twin[0] != trace_id:
            candidates.append(twin)
        for other_trace, other in candidates:
            if not _same_call(entry, other):
                continue
            if (other.rank, other.span_id) < (entry.rank, entry.span_id):
                entry.superseded = True
            elif not other.superseded:
                other.superseded = True
                newly.append((other_trace, other.span_id))
        self._add(trace_id, entry)
        return entry.superseded

    def _add(self, trace_id: str, entry: _Entry) -> None:
        if entry.response_id:
            best = self._responses.get(entry.response_id)
            if best is None or (entry.rank, entry.span_id) < (best[1].rank, best[1].span_id):
                self._responses[entry.response_id] = (trace_id, entry)
                if len(self._responses) > self._max:
                    self._responses.popitem(last=False)
        entries = self._traces.get(trace_id)
        if entries is None:
            self._traces[trace_id] = [entry]
            if len(self._traces) > self._max:
                self._traces.popitem(last=False)
        else:
            entries.append(entry)
            self._traces.move_to_end(trace_id)


def _same_call(a: _Entry, b: _Entry) -> bool:
    if a.response_id and a.response_id == b.response_id:
        return True
    if a.source == b.source:
        return False
    return (a.parent is not None and a.parent == b.span_id) or (b.parent is not None and b.parent == a.span_id)
