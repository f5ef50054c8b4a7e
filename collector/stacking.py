"""One row per logical call when several producers trace the same call (SPEC §2, docs/producers.md).

Stacked instrumentations (claudescope, the SDKs' own tracers, OpenLLMetry, OpenInference, the
API's server spans, ...) each emit a span for one API call. Two call spans are the same call when:

1. they share a response id (``msg_``) or a request id (``req_``), in any trace; or, unless
   their response ids differ,
2. they are in one trace, from different producers, with the same operation and the same token
   counts (output, and input with cache reads and writes), and one is the other's parent, or they
   are siblings (same parent) whose times overlap, or one is the API's server span overlapping the
   other in time. A call has at most one copy per producer, so two identical calls made one after
   the other under one parent stay two rows.

All copies are stored; one is visible in ``calls`` holding the merged facts (``merge``), the others
are marked superseded. Matching uses a bounded index of recent call spans per trace (stacked spans
of one call are exported within seconds of each other), reloaded from the store at start-up; the
facts of the newest copies are kept to merge copies that arrive in different exports.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from claudescope.collector import merge
from claudescope.collector import producers as pr
from claudescope.collector.columns import SPANS_ARROW_SCHEMA
from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable

_MAX_FACTS = 20_000  # merged rows kept for a later copy of the same call
# Recent batches kept (by reference) to merge copies exported later: minutes of a typical app's
# calls, most of a second at full ingest speed. The bound keeps the collector under 500 MB:
# bench_ingest.py peaked at 488-513 MB with 16 MiB, 472-478 MB with 8 MiB (mimalloc keeps the
# pages of retained batches, so the cost in RSS is a few times the bytes retained).
_MAX_RECENT_BYTES = 8 * 1024 * 1024
_PARENT, _SIBLING, _SERVER = 1, 2, 3  # how strongly two id-less copies are related (lower: stronger)
_KEYS = ("trace_id", "span_id", "parent_span_id", "response_id", "request_id", "source_rank", "source",
         "superseded", "operation", "output_tokens")
_INPUTS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")
_SUPERSEDED = SPANS_ARROW_SCHEMA.names.index("superseded")


@dataclass(eq=False, slots=True)
class _Entry:
    # Up to 100k of these live in the collector, and every garbage collection walks them: an
    # entry holds no container of its own (a lone call's group is None, its row is found by
    # reference to its batch), so it costs one tracked object, not four.
    span_id: str
    parent: str | None
    response_id: str | None
    request_id: str | None
    rank: int
    source: str
    superseded: bool
    start: int | None = None  # microseconds
    end: int | None = None
    operation: str | None = None
    inputs: int = 0  # input with cache reads and writes
    output: int | None = None  # None when the token counts are unknown
    facts: pa.Table | dict[str, Any] | None = None  # its batch (row ``row``), or its merged row
    row: int = 0
    group: list[_Entry] | None = None  # the copies of its call, None while it is alone
    index: int | None = None  # its row in the table being resolved
    trace: str = ""


class StackIndex:
    """Recent call spans by trace, deciding which copy of a call is visible and what it shows."""

    def __init__(self, max_traces: int = 100_000, prices: PriceTable | None = None) -> None:
        self._max = max_traces
        self._prices = prices or PriceTable.load(PricingConfig())
        self._traces: OrderedDict[str, list[_Entry]] = OrderedDict()
        # Producers stacked on one call do not always share a trace (an outer wrapper may start a
        # root span of its own), so ids are also matched across traces.
        self._ids: OrderedDict[str, _Entry] = OrderedDict()
        self._merged: deque[_Entry] = deque()  # entries holding a merged row (bounded)
        self._recent: deque[tuple[int, list[_Entry]]] = deque()  # (bytes, entries) of recent batches
        self._recent_bytes = 0

    def preload(self, rows: Iterable[tuple[str, str, str | None, str | None, int, str, bool]]) -> None:
        """Seed with (trace_id, span_id, parent, match key, rank, source, superseded), oldest first."""
        for trace_id, span_id, parent, key, rank, source, superseded in rows:
            response_id, request_id = (None, key[4:]) if key and key.startswith("req:") else (key, None)
            entry = _Entry(span_id, parent, response_id, request_id, int(rank), source, bool(superseded))
            self._add(trace_id, entry)

    def resolve(self, table: pa.Table) -> tuple[pa.Table, list[tuple[str, str]]]:
        """Mark each new row superseded or merged; returns (rows, keys of stored rows now superseded)."""
        columns = [table.column(name).to_pylist() for name in _KEYS]
        starts = table.column("start_time").cast(pa.int64()).to_pylist()
        ends = table.column("end_time").cast(pa.int64()).to_pylist()
        inputs = _sum(table, _INPUTS).to_pylist()
        new = []
        for index, key in enumerate(zip(*columns, starts, ends, inputs, strict=True)):
            entry = self._resolve_one(key, table, index)
            if entry is not None:
                new.append(entry)
        self._remember(table, new)
        newly: list[tuple[str, str]] = []
        flags = columns[_KEYS.index("superseded")]
        merged: dict[int, dict[str, Any]] = {}
        for group in {id(e.group): e.group for e in new if e.group is not None}.values():
            self._settle(group, flags, merged, newly)
        for entry in new:
            entry.index = None
        if any(flags):
            table = table.set_column(_SUPERSEDED, "superseded", pa.array([bool(f) for f in flags], pa.bool_()))
        if merged:  # the visible copies of stacked calls: their rows replaced by the merged ones
            keep = pa.array([i not in merged for i in range(table.num_rows)], pa.bool_())
            rows = pa.Table.from_pylist(list(merged.values()), schema=table.schema)
            table = pa.concat_tables([table.filter(keep), rows])
        return table, newly

    def _resolve_one(self, key: tuple[Any, ...], table: pa.Table, index: int) -> _Entry | None:
        """Index one new call span (its ``_KEYS``, start, end and inputs) and join it to the
        copies of its call; None for a resend."""
        (trace_id, span_id, parent, response_id, request_id, rank, source, superseded, operation, output,
         start, end, inputs) = key
        entries = self._traces.get(trace_id)
        if entries and any(e.span_id == span_id for e in entries):
            return None  # a resend: the store ignores it, first copy wins
        # The columns are typed (int64 rank and output): no conversion but superseded's NULL.
        entry = _Entry(span_id, parent, response_id, request_id, rank, source, bool(superseded), start, end, operation,
                       inputs, output, table, index, None, index)
        # msg_ and req_ ids never collide (their prefixes differ), so the ids are the keys as is.
        for key_ in (response_id, request_id):
            twin = self._ids.get(key_) if key_ else None
            if twin is not None and twin.span_id != span_id and not _contradict(entry, twin):
                _join(entry, twin)
        # Strongest relation first; a copy may bridge two groups (a span whose parent is one
        # producer's copy and whose sibling is another's), one copy per producer still.
        if entries:  # most calls are alone in their trace: nothing to relate
            related = [(strength, -_overlap(entry, other), other) for other in entries
                       if (strength := _strength(entry, other)) is not None]
            for _, _, other in sorted(related, key=lambda r: (r[0], r[1])):
                if _strength(entry, other) is not None:
                    _join(entry, other)
        self._add(trace_id, entry)
        return entry

    def _settle(self, group: list[_Entry], flags: list[Any], merged: dict[int, dict[str, Any]], newly: list[tuple[str, str]]) -> None:
        """Choose the visible copy of one call and give it the merged facts."""
        new = sorted((e for e in group if e.index is not None), key=lambda e: (e.rank, e.span_id))
        old_visible = [e for e in group if e.index is None and not e.superseded]
        carrier = new[0]
        if all(e.facts is not None for e in group):
            copies = [_row(e) for e in group]
            best: dict[str, Any] | None = merge.merged(_row(carrier), copies, self._prices)
            keep = old_visible if len(old_visible) == 1 and merge.same_facts(_row(old_visible[0]), best) else []
        else:  # a copy stored before a restart: its facts are gone, the preferred copy is shown
            best = None
            keep = [e for e in old_visible if (e.rank, e.span_id) < (carrier.rank, carrier.span_id)][:1]
        for entry in group:
            visible = entry in keep or (entry is carrier and not keep)
            if entry.index is not None:
                flags[entry.index] = bool(flags[entry.index]) or not visible
            elif not entry.superseded and not visible:
                newly.append((entry.trace, entry.span_id))
            entry.superseded = not visible
        if best is not None and not keep and carrier.index is not None:
            merged[carrier.index] = best
            carrier.facts = best
            self._merged.append(carrier)
            if len(self._merged) > _MAX_FACTS:
                self._merged.popleft().facts = None

    def _remember(self, table: pa.Table, entries: list[_Entry]) -> None:
        """Keep this batch readable for later copies, within the byte bound (oldest dropped)."""
        size = table.nbytes
        self._recent.append((size, entries))
        self._recent_bytes += size
        while self._recent_bytes > _MAX_RECENT_BYTES and len(self._recent) > 1:
            dropped, old = self._recent.popleft()
            self._recent_bytes -= dropped
            for entry in old:
                if not isinstance(entry.facts, dict):
                    entry.facts = None

    def _add(self, trace_id: str, entry: _Entry) -> None:
        entry.trace = trace_id
        ids = self._ids
        for key in (entry.response_id, entry.request_id):
            if not key:
                continue
            if key in ids:
                ids.move_to_end(key)
            ids[key] = entry
        while len(ids) > self._max:
            ids.popitem(last=False)
        entries = self._traces.get(trace_id)
        if entries is None:
            self._traces[trace_id] = [entry]
            if len(self._traces) > self._max:
                self._traces.popitem(last=False)
        else:
            entries.append(entry)
            self._traces.move_to_end(trace_id)


def _row(entry: _Entry) -> dict[str, Any]:
    """A copy's row (read from its batch when it is kept by reference)."""
    facts = entry.facts
    if isinstance(facts, pa.Table):
        return facts.slice(entry.row, 1).to_pylist()[0]
    return facts or {}


def _sum(table: pa.Table, names: tuple[str, ...]) -> pa.Array:
    """The sum of integer columns, a NULL counted as 0."""
    total = table.column(names[0]).fill_null(0)
    for name in names[1:]:
        total = pc.add_checked(total, table.column(name).fill_null(0))
    return total


def match_keys(response_ids: list[str | None], request_ids: list[str | None]) -> list[str | None]:
    """The id two copies of one call share: the response id, else the ``req_`` request id
    (Claude Code's events and its llm_request spans carry only the latter)."""
    return [resp or (f"req:{req}" if req else None) for resp, req in zip(response_ids, request_ids, strict=True)]


def _contradict(a: _Entry, b: _Entry) -> bool:
    """The copies' response ids say two calls. Request ids join but never part copies: a
    ``req_`` id names one HTTP attempt, and producers may record different attempts of a call."""
    return bool(a.response_id and b.response_id and a.response_id != b.response_id)


def _strength(a: _Entry, b: _Entry) -> int | None:
    """How two id-less copies in one trace are related, or None when they are not one call."""
    if a is b or (a.group is not None and b.group is a.group) or _contradict(a, b):
        return None
    if {e.source for e in a.group or (a,)} & {e.source for e in b.group or (b,)}:
        return None  # at most one copy per producer
    if a.operation != b.operation or (
        a.output is not None and b.output is not None and (a.inputs, a.output) != (b.inputs, b.output)
    ):
        return None
    if (a.parent is not None and a.parent == b.span_id) or (b.parent is not None and b.parent == a.span_id):
        return _PARENT
    if _overlap(a, b) <= 0:
        return None
    if a.parent is not None and a.parent == b.parent:
        return _SIBLING
    if pr.profile_of_source(a.source).server or pr.profile_of_source(b.source).server:
        return _SERVER
    return None


def _overlap(a: _Entry, b: _Entry) -> float:
    if a.start is None or a.end is None or b.start is None or b.end is None:
        return 0.0
    return float(min(a.end, b.end) - max(a.start, b.start))


def _join(entry: _Entry, other: _Entry) -> None:
    """Put the two copies' groups together (one call)."""
    if entry is other or (entry.group is not None and entry.group is other.group):
        return
    joined = (entry.group or [entry]) + (other.group or [other])
    for member in joined:
        member.group = joined
