"""The demo's simulated production day: which calls happen when, for whom, with what.

``plan_day(calls, seed, end)`` is pure: the same seed gives the same day (times relative to
``end``). Traffic follows a diurnal curve over the 24 hours before ``end`` with a 09:00 UTC
burst that meets 429s and 529s; five features with their own models, prompt sizes, output
lengths, caching (support_chat caches its system prompt for 5 minutes, code_review its tools
and system prompt for an hour) and call styles; Zipf-distributed users; prompt version v2 of
``summarize`` (rolled out in the afternoon) has a max_tokens too small and truncates often;
one model name is unknown to the price table; a few requests are invalid (400).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["DayPlan", "PlannedBatch", "PlannedCall", "plan_day", "rate_limits", "request_params", "UNKNOWN_MODEL"]

UNKNOWN_MODEL = "claude-nimbus-preview"  # not in any price table: its calls stay unpriced
USERS = 250
# Relative traffic per UTC hour of day: quiet night, morning ramp, lunch dip, afternoon peak.
HOUR_WEIGHTS = (1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 4.0, 7.0, 6.0, 5.0,
                4.5, 5.0, 5.5, 5.0, 4.5, 3.5, 3.0, 2.5, 2.0, 1.8, 1.5, 1.2)
BURST_SHARE = 0.12  # of all calls, packed into 09:00-09:30 UTC
BURST_ERROR_RATE = 0.35
BURST_SCRIPTS = (("429,ok", 4), ("429,429,ok", 2), ("529,ok", 2), ("529,529,529", 1), ("429,429,429", 1))


@dataclass(frozen=True)
class Feature:
    """How one product feature calls Claude."""

    name: str
    weight: float
    models: tuple[tuple[str, float], ...]
    kinds: tuple[tuple[str, float], ...]  # create | stream | stream_helper | count_tokens
    input_chars: tuple[int, int]
    output_median: int
    max_tokens: int
    system_chars: int = 0
    cache_ttl: str | None = None  # "5m" or "1h" on the system prompt (and tools)
    tools: bool = False
    v2_max_tokens: int | None = None  # v2's (too small) max_tokens


FEATURES = (
    Feature("support_chat", 0.34, (("claude-sonnet-4-6", 0.75), ("claude-haiku-4-5", 0.25)),
            (("stream_helper", 0.7), ("stream", 0.1), ("create", 0.2)), (200, 2400), 180, 1024,
            system_chars=10_000, cache_ttl="5m"),
    Feature("summarize", 0.20, (("claude-haiku-4-5", 0.6), ("claude-sonnet-4-5", 0.4)),
            (("create", 0.85), ("count_tokens", 0.1), ("stream", 0.05)), (6_000, 32_000), 200, 1024,
            system_chars=600, v2_max_tokens=160),
    Feature("code_review", 0.14, (("claude-opus-4-6", 0.6), ("claude-sonnet-4-6", 0.4)),
            (("create", 0.7), ("stream", 0.3)), (4_000, 24_000), 450, 2048,
            system_chars=12_000, cache_ttl="1h", tools=True),
    Feature("classify", 0.20, (("claude-haiku-4-5", 1.0),), (("create", 1.0),), (200, 1_600), 4, 16,
            system_chars=400),
    Feature("extract", 0.12, (("claude-sonnet-4-5", 0.85), (UNKNOWN_MODEL, 0.15)),
            (("create", 0.85), ("count_tokens", 0.15)), (1_000, 8_000), 120, 512, system_chars=800),
)
REVIEW_TOOLS = (
    {"name": "read_file", "description": "Read a file of the repository under review.",
     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
    {"name": "post_comment", "description": "Post a review comment on a line.",
     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}, "line": {"type": "integer"},
                                                       "body": {"type": "string"}}}},
)


@dataclass(frozen=True)
class PlannedCall:
    """One Claude call of the day (content is built only when it runs, see request_params)."""

    index: int
    at: datetime
    feature: str
    kind: str
    model: str
    user_id: str
    prompt_version: str
    max_tokens: int
    input_chars: int
    script: str | None = None  # x-fake-script for the fake API
    thinking: bool = False  # extended thinking (code_review on Opus, sometimes)
    web_search: bool = False  # the web search server tool (support_chat, sometimes)
    geo_us: bool = False  # inference_geo="us" (data residency, priced 1.1x on 4.6+)


@dataclass(frozen=True)
class PlannedBatch:
    """The day's Message Batch (nightly summarization backfill)."""

    at: datetime
    size: int
    model: str = "claude-haiku-4-5"


@dataclass
class DayPlan:
    """The whole simulated day."""

    start: datetime
    end: datetime
    seed: int
    calls: list[PlannedCall] = field(default_factory=list)
    batch: PlannedBatch | None = None


def _pick(rng: random.Random, options: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _when(rng: random.Random, start: datetime, burst: tuple[datetime, datetime] | None) -> datetime:
    if burst and rng.random() < BURST_SHARE:
        return burst[0] + (burst[1] - burst[0]) * rng.random()
    slots = [HOUR_WEIGHTS[(start + timedelta(hours=k)).hour] for k in range(24)]
    slot = rng.choices(range(24), weights=slots)[0]
    return start + timedelta(hours=slot + rng.random())


def _burst_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """09:00-09:30 UTC of the day; when the day ends inside it, its last 30 minutes."""
    nine = end.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine > end:
        nine -= timedelta(days=1)
    if nine + timedelta(minutes=30) > end:
        return end - timedelta(minutes=30), end
    return nine, nine + timedelta(minutes=30)


def _script(rng: random.Random, at: datetime, kind: str, burst: tuple[datetime, datetime] | None) -> str | None:
    if kind == "count_tokens":
        return None
    if burst and burst[0] <= at < burst[1] and rng.random() < BURST_ERROR_RATE:
        return str(_pick(rng, BURST_SCRIPTS))
    roll = rng.random()
    if roll < 0.004:
        return "400"
    if roll < 0.009:
        return "529,ok"
    if roll < 0.011:
        return "500,ok"
    if roll < 0.016 and kind in ("stream", "stream_helper"):
        return "sse-error"
    return None


def _zipf_users(rng: random.Random) -> list[str]:
    users = [f"u-{n:04d}" for n in range(1, USERS + 1)]
    rng.shuffle(users)  # rank order differs per seed
    return users


def plan_day(calls: int, seed: int, end: datetime | None = None) -> DayPlan:
    """The calls of one day ending at ``end`` (default now, UTC), in time order."""
    end = (end or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    start = end - timedelta(hours=24)
    rng = random.Random(seed)
    users = _zipf_users(rng)
    user_weights = [1.0 / (rank ** 1.1) for rank in range(1, USERS + 1)]
    burst = _burst_window(start, end)
    rollout = start + timedelta(hours=15)
    planned: list[PlannedCall] = []
    for _ in range(max(0, calls)):
        feature = rng.choices(FEATURES, weights=[f.weight for f in FEATURES])[0]
        at = _when(rng, start, burst)
        kind = _pick(rng, feature.kinds)
        v2 = (at >= rollout and rng.random() < 0.8) if feature.v2_max_tokens else rng.random() < 0.3
        model = _pick(rng, feature.models)
        planned.append(PlannedCall(
            index=0, at=at, feature=feature.name, kind=kind, model=model,
            user_id=rng.choices(users, weights=user_weights)[0], prompt_version="v2" if v2 else "v1",
            max_tokens=(feature.v2_max_tokens or feature.max_tokens) if v2 else feature.max_tokens,
            input_chars=rng.randint(*feature.input_chars), script=_script(rng, at, kind, burst),
            thinking=feature.name == "code_review" and "opus" in model and rng.random() < 0.4,
            web_search=feature.name == "support_chat" and rng.random() < 0.06,
            geo_us="opus-4-6" in model and rng.random() < 0.2,
        ))
    planned.sort(key=lambda c: c.at)
    plan = DayPlan(start, end, seed, [_reindex(c, i) for i, c in enumerate(planned)])
    if calls >= 50:
        night = start.replace(hour=2, minute=30, second=0)
        plan.batch = PlannedBatch(at=night if night >= start else night + timedelta(days=1), size=max(5, calls // 100))
    return plan


def _reindex(call: PlannedCall, index: int) -> PlannedCall:
    return PlannedCall(**{**call.__dict__, "index": index})


def rate_limits(calls: int) -> dict[str, int]:
    """The fake API's per-minute limits for a day of ``calls`` (``create_fake_api`` options).

    Sized to the day's traffic, as an organisation picks its tier: on the simulated clock the
    09:00 burst (BURST_SHARE of the day in 30 minutes) nears them, the rest of the day stays
    well clear. Requests and tokens scale with the day, with floors that keep one large call
    from filling a minute on a small day.
    """
    input_tokens = max(40_000, calls * 15)
    return {
        "requests_per_minute": max(8, calls // 150),
        "input_tokens_per_minute": input_tokens,
        "output_tokens_per_minute": input_tokens // 5,
    }


# --- request content (built at call time; deterministic) -------------------------------------

_VOCAB = ("order refund invoice account shipping delivery password login error billing plan upgrade "
          "customer ticket priority function class module test coverage regression latency cache "
          "report quarter revenue growth churn forecast contract clause party date amount address").split()


@functools.lru_cache(maxsize=8)
def _corpus(seed: int, size: int = 40_000) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_VOCAB)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def _text(seed: int, chars: int, offset: int) -> str:
    corpus = _corpus(seed)
    reps = chars // len(corpus) + 2
    body = corpus * reps
    start = offset % len(corpus)
    return body[start : start + chars]


def _feature(name: str) -> Feature:
    return next(f for f in FEATURES if f.name == name)


def request_params(call: PlannedCall, seed: int) -> dict[str, Any]:
    """The Messages API parameters of a planned call (same call, same bytes)."""
    feature = _feature(call.feature)
    # The system prompt depends only on feature and version, so caching can hit across users.
    system_text = f"[{call.feature} {call.prompt_version}] " + _text(seed, feature.system_chars, hash_of(call.feature))
    system: list[dict[str, Any]] = [{"type": "text", "text": system_text}]
    if feature.cache_ttl:
        control: dict[str, Any] = {"type": "ephemeral"}
        if feature.cache_ttl == "1h":
            control["ttl"] = "1h"
        system[0]["cache_control"] = control
    user_text = _text(seed, call.input_chars, call.index * 7919)
    messages: list[dict[str, Any]] = [{"role": "user", "content": user_text}]
    if call.feature == "support_chat" and call.index % 3:
        messages = [
            {"role": "user", "content": _text(seed, 300, call.index)},
            {"role": "assistant", "content": _text(seed, 500, call.index + 1)},
            {"role": "user", "content": user_text},
        ]
    params: dict[str, Any] = {"model": call.model, "system": system, "messages": messages}
    if call.kind != "count_tokens":
        params["max_tokens"] = call.max_tokens
        params["metadata"] = {"user_id": call.user_id}
    if feature.tools:
        params["tools"] = [dict(t) for t in REVIEW_TOOLS]
    if call.web_search:
        params["tools"] = [*params.get("tools", []), {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]
    if call.thinking:
        params["thinking"] = {"type": "adaptive"}  # "enabled" + budget_tokens is deprecated in SDK 2.x
        if call.kind != "count_tokens":
            params["max_tokens"] = call.max_tokens + 2048
    if call.geo_us and call.kind != "count_tokens":
        params["inference_geo"] = "us"
    return params


def hash_of(text: str) -> int:
    """A stable small hash (Python's str hash is salted per process)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(text))


def output_median(call: PlannedCall) -> int:
    """Typical answer length of the call's feature, in tokens."""
    return _feature(call.feature).output_median
