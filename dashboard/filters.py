"""The global view: time range plus attribution filters, and their URL form.

Every page reads the same ``Filters``; ``to_params`` / ``from_params`` round-trip it through the
URL query string so that a view can be shared by copying the address bar. Pure: no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

RANGE_LABELS: dict[str, str] = {
    "1h": "Last hour",
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom",
}
DEFAULT_RANGE = "7d"
# URL parameter name for each attribution dimension (short, so shared links stay readable).
DIMENSION_PARAMS: dict[str, str] = {
    "services": "service",
    "models": "model",
    "features": "feature",
    "users": "user",
    "prompt_versions": "pv",
    "sources": "source",
}
# The sources filter's value for "every producer but Claude Code": the applications' own calls.
APPS = "(apps)"
CLAUDE_CODE = "claude-code"


class FilterError(ValueError):
    """A query parameter that cannot be read as a filter."""


@dataclass(frozen=True, slots=True)
class Filters:
    """What every page shows: calls started in ``[start, end)`` matching every dimension."""

    range_key: str = DEFAULT_RANGE
    custom_from: date | None = None
    custom_to: date | None = None
    services: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    prompt_versions: tuple[str, ...] = ()
    # Producers (``calls.source``); ``APPS`` stands for every source but Claude Code.
    sources: tuple[str, ...] = ()
    # Set once per script run so that every query of a page agrees on "now".
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def start(self) -> datetime:
        """Inclusive UTC start of the range."""
        return resolve_range(self)[0]

    @property
    def end(self) -> datetime:
        """Exclusive UTC end of the range."""
        return resolve_range(self)[1]

    @property
    def label(self) -> str:
        """Human name of the range, e.g. ``Last 7 days`` or ``2026-11-01 → 2026-11-03``."""
        if self.range_key == "custom" and self.custom_from and self.custom_to:
            return f"{self.custom_from.isoformat()} → {self.custom_to.isoformat()}"
        return RANGE_LABELS.get(self.range_key, self.range_key)

    def without_dimensions(self) -> Filters:
        """The same time range with no attribution filter (for org-wide numbers like budgets)."""
        return replace(self, services=(), models=(), features=(), users=(), prompt_versions=(), sources=())


def resolve_range(filters: Filters) -> tuple[datetime, datetime]:
    """Turn the range key into concrete UTC bounds relative to ``filters.now``."""
    now = filters.now
    key = filters.range_key
    if key == "1h":
        return now - timedelta(hours=1), now
    if key == "today":
        return datetime.combine(now.date(), time(), tzinfo=UTC), now
    if key == "30d":
        return now - timedelta(days=30), now
    if key == "custom" and filters.custom_from and filters.custom_to:
        start = datetime.combine(filters.custom_from, time(), tzinfo=UTC)
        end = datetime.combine(filters.custom_to + timedelta(days=1), time(), tzinfo=UTC)
        return start, end
    return now - timedelta(days=7), now


# (longest range, bucket as SQL interval, bucket as timedelta), shortest first.
_BUCKETS: tuple[tuple[timedelta, str, timedelta], ...] = (
    (timedelta(hours=2), "1 minute", timedelta(minutes=1)),
    (timedelta(hours=12), "10 minutes", timedelta(minutes=10)),
    (timedelta(days=3), "1 hour", timedelta(hours=1)),
    (timedelta(days=14), "6 hours", timedelta(hours=6)),
)


def bucket_for(start: datetime, end: datetime) -> str:
    """The chart bucket width for a range as an SQL interval: about 24-200 points whatever the span."""
    return next((sql for longest, sql, _ in _BUCKETS if end - start <= longest), "1 day")


def bucket_step(start: datetime, end: datetime) -> timedelta:
    """The same bucket width as a timedelta (for drawing bars as wide as their bucket)."""
    return next((step for longest, _, step in _BUCKETS if end - start <= longest), timedelta(days=1))


def to_params(filters: Filters) -> dict[str, str]:
    """The URL query parameters for ``filters`` (only the non-default ones)."""
    params: dict[str, str] = {}
    if filters.range_key != DEFAULT_RANGE:
        params["range"] = filters.range_key
    if filters.range_key == "custom" and filters.custom_from and filters.custom_to:
        params["from"] = filters.custom_from.isoformat()
        params["to"] = filters.custom_to.isoformat()
    for attr, name in DIMENSION_PARAMS.items():
        values: tuple[str, ...] = getattr(filters, attr)
        if values:
            params[name] = ",".join(values)
    return params


def from_params(params: Mapping[str, str], *, now: datetime) -> Filters:
    """Read filters back from URL query parameters.

    Raises:
        FilterError: an unknown range or a malformed custom date, naming the parameter.
    """
    range_key = params.get("range", DEFAULT_RANGE)
    if range_key not in RANGE_LABELS:
        raise FilterError(f"range={range_key!r}: expected one of {', '.join(RANGE_LABELS)}")
    custom_from = _date_param(params, "from")
    custom_to = _date_param(params, "to")
    if range_key == "custom" and (custom_from is None or custom_to is None):
        raise FilterError("range=custom needs from=YYYY-MM-DD and to=YYYY-MM-DD")
    if custom_from and custom_to and custom_to < custom_from:
        raise FilterError("to= is before from=")
    dimensions = {attr: _list_param(params.get(name, "")) for attr, name in DIMENSION_PARAMS.items()}
    return Filters(range_key=range_key, custom_from=custom_from, custom_to=custom_to, now=now, **dimensions)


def _date_param(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(f"{name}={raw!r}: expected a date YYYY-MM-DD") from None


def _list_param(raw: str) -> tuple[str, ...]:
    return tuple(v for v in (part.strip() for part in raw.split(",")) if v)
