"""The Admin API's Usage & Cost reports, computed from the fake's billing ledger.

``cost_report(query, entries, pricer)`` and ``usage_report(query, entries)`` build the JSON of
``GET /v1/organizations/cost_report`` and ``GET /v1/organizations/usage_report/messages``
(platform.claude.com/docs/en/api/admin/cost_report and .../usage_report):

- buckets are UTC-aligned: ``starting_at`` is snapped down to the start of its minute, hour or
  day; every bucket starting before ``ending_at`` is returned (without ``ending_at``, up to the
  bucket holding the current time), empty ones with ``results: []``;
- ``limit`` buckets per page (default and maximum by width: 1d 7/31, 1h 24/168, 1m 60/1440;
  the cost report is 1d only); ``has_more`` and an opaque ``next_page`` token
  (``page_`` + base64 of the next bucket's start) that the ``page`` parameter takes back;
- the cost report's ``amount`` is a decimal string in cents, the exact sum of tokens x per-token
  rate (no rounding); Priority Tier usage is left out of it, unpriced models too;
- anything malformed (a date, a width, a limit out of range, an unknown ``group_by[]``, a
  page token from another query) raises :class:`ReportError` -> 400 invalid_request_error.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from claudescope.fakeapi.billing import Pricer
from claudescope.fakeapi.ledger import LedgerEntry

__all__ = ["COST_GROUPS", "USAGE_FILTERS", "USAGE_GROUPS", "Query", "ReportError", "cost_report", "parse_query",
           "usage_report"]

WIDTHS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}  # (default, maximum) buckets per page
COST_GROUPS = ("workspace_id", "description")
USAGE_GROUPS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo")
# query parameter -> the entry field it filters on
USAGE_FILTERS = {
    "models[]": "model", "workspace_ids[]": "workspace_id", "api_key_ids[]": "api_key_id",
    "service_tiers[]": "service_tier", "context_window[]": "context_window", "inference_geos[]": "inference_geo",
}
_DESCRIPTION_FIELDS = ("model", "cost_type", "token_type", "context_window", "service_tier", "inference_geo")


class ReportError(ValueError):
    """A query the API rejects (400 invalid_request_error); the message says which parameter."""


@dataclass(frozen=True)
class Query:
    """A report query, validated."""

    buckets: tuple[datetime, ...]  # the starts of this page's buckets
    width: timedelta
    group_by: tuple[str, ...]
    filters: dict[str, frozenset[str]]
    next_page: str | None

    @property
    def start(self) -> datetime:
        """The start of this page's first bucket."""
        return self.buckets[0]

    @property
    def end(self) -> datetime:
        """The end (exclusive) of this page's last bucket."""
        return self.buckets[-1] + self.width


def _moment(raw: str | None, name: str) -> datetime:
    if not raw:
        raise ReportError(f"{name}: Field required")
    try:
        moment = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise ReportError(f"{name}: not an RFC 3339 timestamp: {raw!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _snap(moment: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return moment - (moment - epoch) % width


def _token(start: datetime) -> str:
    return "page_" + base64.urlsafe_b64encode(start.strftime("%Y-%m-%dT%H:%M:%SZ").encode()).decode()


def _from_token(token: str) -> datetime:
    try:
        if not token.startswith("page_"):
            raise ValueError(token)
        return _moment(base64.urlsafe_b64decode(token[5:].encode()).decode(), "page")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ReportError(f"page: not a next_page token of this report: {token!r}") from None


def parse_query(
    params: Any, *, widths: Sequence[str], groups: Sequence[str], filters: Iterable[str] = (),
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> Query:
    """Validate the query parameters (a starlette ``QueryParams``) of a report request."""
    width_name = params.get("bucket_width") or "1d"
    if width_name not in widths:
        raise ReportError(f"bucket_width: must be one of {', '.join(widths)}, got {width_name!r}")
    width = WIDTHS[width_name]
    start = _snap(_moment(params.get("starting_at"), "starting_at"), width)
    ending = params.get("ending_at")
    end = _moment(ending, "ending_at") if ending else _snap(now(), width) + width
    if end <= start:
        raise ReportError("ending_at: must be after starting_at")
    default, maximum = LIMITS[width_name]
    try:
        limit = int(params.get("limit") or default)
    except ValueError:
        raise ReportError(f"limit: must be an integer, got {params.get('limit')!r}") from None
    if not 1 <= limit <= maximum:
        raise ReportError(f"limit: must be between 1 and {maximum} for bucket_width {width_name}, got {limit}")
    group_by = tuple(params.getlist("group_by[]"))
    unknown = [g for g in group_by if g not in groups]
    if unknown:
        raise ReportError(f"group_by[]: {unknown[0]!r} is not one of {', '.join(groups)}")
    page = params.get("page")
    first = start
    if page:
        first = _from_token(page)
        if first < start or first >= end or _snap(first, width) != first:
            raise ReportError("page: the token does not belong to this query's time range")
    starts: list[datetime] = []
    moment = first
    while moment < end and len(starts) < limit:
        starts.append(moment)
        moment += width
    more = moment < end
    chosen = {f: frozenset(params.getlist(f)) for f in filters if params.getlist(f)}
    return Query(tuple(starts), width, tuple(dict.fromkeys(group_by)), chosen, _token(moment) if more else None)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _by_bucket(query: Query, entries: Iterable[LedgerEntry]) -> dict[datetime, list[LedgerEntry]]:
    buckets: dict[datetime, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        if query.start <= entry.at < query.end:
            buckets[_snap(entry.at, query.width)].append(entry)
    return buckets


def _page(query: Query, results: Callable[[list[LedgerEntry]], list[dict[str, Any]]],
          entries: Iterable[LedgerEntry]) -> dict[str, Any]:
    buckets = _by_bucket(query, entries)
    data = [
        {"starting_at": _stamp(s), "ending_at": _stamp(s + query.width), "results": results(buckets.get(s, []))}
        for s in query.buckets
    ]
    return {"data": data, "has_more": query.next_page is not None, "next_page": query.next_page}


def cents(usd: Decimal) -> str:
    """USD as the cost report's cents string: exact, no exponent, no trailing zeros."""
    text = format((usd * 100).normalize(), "f")
    return text if text not in ("-0", "") else "0"


def cost_report(query: Query, entries: Iterable[LedgerEntry], pricer: Pricer) -> dict[str, Any]:
    """The cost report page for ``query`` (Priority Tier and unpriced usage left out)."""
    by_workspace = "workspace_id" in query.group_by
    by_description = "description" in query.group_by

    def results(bucket: list[LedgerEntry]) -> list[dict[str, Any]]:
        sums: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        for entry in bucket:
            if entry.service_tier == "priority":
                continue
            for line in pricer.lines(entry):
                key: tuple[Any, ...] = (entry.workspace_id if by_workspace else None,)
                if by_description:
                    band = entry.context_window if line.cost_type == "tokens" else None
                    key += (line.description, entry.model, line.cost_type, line.token_type, band,
                            entry.service_tier, entry.inference_geo)
                sums[key] += line.usd
        rows = []
        for key, usd in sums.items():
            row: dict[str, Any] = {"amount": cents(usd), "currency": "USD", "workspace_id": key[0], "description": None,
                                   **{name: None for name in _DESCRIPTION_FIELDS}}
            if by_description:
                row["description"] = key[1]
                row.update(zip(_DESCRIPTION_FIELDS, key[2:]))
            rows.append(row)
        return rows

    return _page(query, results, entries)


def usage_report(query: Query, entries: Iterable[LedgerEntry]) -> dict[str, Any]:
    """The messages usage report page for ``query`` (every tier, priced or not)."""
    kept = [e for e in entries if all(getattr(e, USAGE_FILTERS[f]) in v for f, v in query.filters.items())]

    def results(bucket: list[LedgerEntry]) -> list[dict[str, Any]]:
        sums: dict[tuple[Any, ...], list[int]] = {}
        for entry in bucket:
            key = tuple(getattr(entry, g) if g in query.group_by else None for g in USAGE_GROUPS)
            counts = sums.setdefault(key, [0] * 6)
            for index, value in enumerate((
                entry.uncached_input_tokens, entry.cache_read_input_tokens, entry.cache_write_5m_tokens,
                entry.cache_write_1h_tokens, entry.output_tokens, entry.web_search_requests,
            )):
                counts[index] += value
        return [
            {
                "uncached_input_tokens": c[0], "cache_read_input_tokens": c[1],
                "cache_creation": {"ephemeral_5m_input_tokens": c[2], "ephemeral_1h_input_tokens": c[3]},
                "output_tokens": c[4], "server_tool_use": {"web_search_requests": c[5]},
                **dict(zip(USAGE_GROUPS, key)),
            }
            for key, c in sums.items()
        ]

    return _page(query, results, kept)
