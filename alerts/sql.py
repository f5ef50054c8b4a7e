"""Every SQL statement of the alert engine: measuring rules, and its own tables.

Rule text never reaches SQL except a ``where`` filter that :mod:`.whereclause` validated and
group expressions taken from a fixed table; every value is a bound parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from claudescope.alerts.rules import Rule
from claudescope.call_facts import TOTAL_INPUT_TOKENS_SQL

Query = tuple[str, list[Any]]

_ERROR_CONDITIONS = {
    "any": "status = 'error'",
    "429": "(http_status = 429 OR error_type = 'rate_limit_error')",
    "529": "(http_status = 529 OR error_type = 'overloaded_error')",
    "5xx": "(http_status BETWEEN 500 AND 599 AND http_status <> 529 OR error_type = 'api_error')",
    "timeout": "error_type = 'timeout'",
    "connection": "error_type = 'connection_error'",
}
_TOTAL_INPUT = TOTAL_INPUT_TOKENS_SQL
_TS = "CAST(? AS TIMESTAMPTZ)"


def key_sql(rule: Rule) -> str:
    """The series key of a rule's rows: its group value as text, or ``'all'``."""
    group = rule.group_sql
    return f"coalesce(CAST({group} AS VARCHAR), '(none)')" if group else "'all'"


def _filter(rule: Rule) -> str:
    return f" AND ({rule.where})" if rule.where else ""


def hit_condition(rule: Rule) -> Query | None:
    """The per-call condition a rate rule counts (also used to find top contributors)."""
    if rule.spec.stop_reason or rule.kind == "stop_reason_rate":
        return "stop_reason = ?", [rule.spec.stop_reason or rule.params["stop_reason"]]
    if rule.kind == "error_rate":
        return _ERROR_CONDITIONS[rule.params["error"]], []
    if rule.kind == "unpriced_model":
        return "cost_usd IS NULL AND status = 'ok'", []
    return None


def measure(rule: Rule, now: datetime, period_start: datetime | None) -> Query:
    """The query measuring every series of ``rule`` at ``now``."""
    key, where = key_sql(rule), _filter(rule)
    kind = rule.kind
    if kind == "budget":
        return (f"SELECT {key} AS key, count(*) AS n, coalesce(sum(cost_usd), 0) AS spent FROM calls "
                f"WHERE start_time >= {_TS}{where} GROUP BY 1", [period_start])
    if kind == "burn_rate":
        return _burn(rule, now, period_start)
    if kind in ("latency_p95", "ttft_p95"):
        col = "duration_ms" if kind == "latency_p95" else "ttft_ms"
        return (f"SELECT {key} AS key, count({col}) AS n, quantile_cont({col}, 0.95) AS value FROM calls "
                f"WHERE start_time >= {_TS} AND {col} IS NOT NULL{where} GROUP BY 1", [now - rule.window])
    if kind == "cache_hit_rate":
        return _cache(rule, now)
    if kind == "rate_limit_headroom":
        return _headroom(rule, now)
    if kind == "cost_anomaly":
        cur, base = now - rule.window, now - rule.params["baseline"]
        return (f"SELECT {key} AS key, count(*) AS n, "
                f"coalesce(sum(cost_usd) FILTER (WHERE start_time >= {_TS}), 0) AS current, "
                f"coalesce(sum(cost_usd) FILTER (WHERE start_time < {_TS}), 0) AS base, min(start_time) AS first_seen "
                f"FROM calls WHERE start_time >= {_TS}{where} GROUP BY 1", [cur, cur, base])
    hit = hit_condition(rule)
    assert hit is not None, kind
    cond, cond_params = hit
    return (f"SELECT {key} AS key, count(*) AS n, count(*) FILTER (WHERE {cond}) AS hits FROM calls "
            f"WHERE start_time >= {_TS} AND operation IS DISTINCT FROM 'count_tokens'{where} GROUP BY 1",
            [*cond_params, now - rule.window])


def _burn(rule: Rule, now: datetime, period_start: datetime | None) -> Query:
    windows: list[timedelta] = rule.params["windows"]
    cols = ", ".join(f"coalesce(sum(cost_usd) FILTER (WHERE start_time >= {_TS}), 0) AS w{i}" for i in range(len(windows)))
    earliest = min([period_start, *(now - w for w in windows)])
    return (f"SELECT {key_sql(rule)} AS key, count(*) AS n, "
            f"coalesce(sum(cost_usd) FILTER (WHERE start_time >= {_TS}), 0) AS spent, {cols} "
            f"FROM calls WHERE start_time >= {_TS}{_filter(rule)} GROUP BY 1",
            [period_start, *(now - w for w in windows), earliest])


def _cache(rule: Rule, now: datetime) -> Query:
    cur, base = now - rule.window, now - rule.params["baseline"]
    return (f"SELECT {key_sql(rule)} AS key, count(*) AS n, "
            f"coalesce(sum(cache_read_tokens) FILTER (WHERE start_time >= {_TS}), 0) AS cur_read, "
            f"coalesce(sum({_TOTAL_INPUT}) FILTER (WHERE start_time >= {_TS}), 0) AS cur_total, "
            f"coalesce(sum(cache_read_tokens) FILTER (WHERE start_time < {_TS}), 0) AS base_read, "
            f"coalesce(sum({_TOTAL_INPUT}) FILTER (WHERE start_time < {_TS}), 0) AS base_total "
            f"FROM calls WHERE start_time >= {_TS} AND status = 'ok' AND operation IS DISTINCT FROM 'count_tokens'"
            f"{_filter(rule)} GROUP BY 1", [cur, cur, cur, cur, base])


def _headroom(rule: Rule, now: datetime) -> Query:
    # The resource name comes from a fixed list (call_facts.RATELIMIT_RESOURCES), never from user text.
    prefix = f"claudescope.ratelimit.{rule.params['resource']}"
    remaining = f"TRY_CAST(json_extract_string(attributes, '$.\"{prefix}.remaining\"') AS DOUBLE)"
    limit = f"TRY_CAST(json_extract_string(attributes, '$.\"{prefix}.limit\"') AS DOUBLE)"
    return (f"SELECT {key_sql(rule)} AS key, count(*) AS n, "
            f"arg_max({remaining}, start_time) AS remaining, arg_max({limit}, start_time) AS lim "
            f"FROM calls WHERE start_time >= {_TS} AND {remaining} IS NOT NULL AND {limit} > 0{_filter(rule)} GROUP BY 1",
            [now - rule.window])


def contributors(rule: Rule, key: str, since: datetime, limit: int = 3) -> Query:
    """Top features, users and models of a firing series, by spend then by count."""
    conds = [f"start_time >= {_TS}"]
    params: list[Any] = [since]
    if rule.group_sql:
        conds.append(f"{key_sql(rule)} = ?")
        params.append(key)
    hit = hit_condition(rule)
    if hit is not None:
        conds.append(hit[0])
        params += hit[1]
    base = " AND ".join(conds) + _filter(rule)
    parts = []
    for dim, expr in (("feature", "feature"), ("user_id", "user_id"), ("model", "coalesce(response_model, request_model)")):
        parts.append(f"(SELECT '{dim}' AS dim, CAST({expr} AS VARCHAR) AS value, count(*) AS n, sum(cost_usd) AS cost "
                     f"FROM calls WHERE {base} GROUP BY 2 ORDER BY cost DESC NULLS LAST, n DESC, value LIMIT {int(limit)})")
    return " UNION ALL ".join(parts), params * 3


# --- the engine's own tables (migration 0100_alerts.sql) -------------------------------
EVENT_COLUMNS = ("id", "time", "rule", "alert_key", "severity", "state", "summary", "details", "delivered", "channels", "routes")


def insert_events(count: int) -> str:
    """One INSERT for a whole evaluation pass, so its events commit together or not at all."""
    row = "(" + ", ".join("?" for _ in EVENT_COLUMNS) + ")"
    return f"INSERT INTO alert_events ({', '.join(EVENT_COLUMNS)}) VALUES " + ", ".join([row] * count)


LATEST_STATES = """
SELECT alert_key, arg_max(rule, time) AS rule, arg_max(state, time) AS state, max(time) AS last_time,
       arg_max(CAST(json_extract(details, '$.level') AS INTEGER), time) AS level,
       max(time) FILTER (WHERE state = 'firing') AS last_fired,
       arg_max(id, time) FILTER (WHERE state = 'firing') AS fired_id,
       arg_max(TRY_CAST(json_extract(details, '$.value') AS DOUBLE), time) FILTER (WHERE state = 'firing') AS fired_value
FROM alert_events WHERE alert_key IS NOT NULL GROUP BY alert_key
"""

# A firing alert's numbers moved (engine._refresh): its stored text follows, with no new event to deliver.
REFRESH_EVENT = "UPDATE alert_events SET summary = ?, details = json_merge_patch(details, ?::JSON) WHERE id = ?"

PENDING_EVENTS = """
SELECT id, time, rule, alert_key, severity, state, summary, details, routes FROM alert_events
WHERE NOT delivered AND routes IS NOT NULL AND routes <> '[]' ORDER BY time, id
"""

DELIVERED_CHANNELS = """
SELECT d.event_id, d.channel, any_value(d.channel_name) AS channel_name FROM alert_deliveries d
JOIN alert_events e ON e.id = d.event_id WHERE d.ok AND NOT e.delivered GROUP BY 1, 2
"""

DELIVERY_COLUMNS = ("event_id", "channel", "channel_name", "time", "ok", "error")


def insert_deliveries(count: int) -> str:
    """Record one attempt of one channel for ``count`` events (one message)."""
    row = "(" + ", ".join("?" for _ in DELIVERY_COLUMNS) + ")"
    return f"INSERT INTO alert_deliveries ({', '.join(DELIVERY_COLUMNS)}) VALUES " + ", ".join([row] * count)


MARK_EVENT = "UPDATE alert_events SET delivered = ?, channels = ? WHERE id = ?"
