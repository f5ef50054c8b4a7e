"""Every SQL statement of the alert engine: measuring rules, and its own tables.

Rule text never reaches SQL except a ``where`` filter that :mod:`.whereclause` validated and
group expressions taken from a fixed table; every value is a bound parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from claudescope.alerts.rules import Rule
from claudescope import semconv as sc
from claudescope.call_facts import SPEND_PERIODS, TOTAL_INPUT_TOKENS_SQL, attribute_sql, spend_by_limit_sql, spend_period_starts
from claudescope.semconv import SPEND_LIMIT_ERROR_TYPES

Query = tuple[str, list[Any]]

# A spend cap answers 429 too, but it is no rate limit: rate-limit rules leave it out (fixed names).
SPEND_LIMIT = "error_type IN (" + ", ".join(f"'{t}'" for t in SPEND_LIMIT_ERROR_TYPES) + ")"
_NOT_SPEND_LIMIT = f"coalesce({SPEND_LIMIT}, false) = false"
_ERROR_CONDITIONS = {
    "any": "status = 'error'",
    "429": f"((http_status = 429 OR error_type = 'rate_limit_error') AND {_NOT_SPEND_LIMIT})",
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
    if rule.kind == "spend_limit_reached":
        return SPEND_LIMIT, []
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
    if kind == "spend_limit_reached":
        return _spend_limit(rule, now)
    if kind == "model_changed":
        return _model_changed(rule, now)
    if kind == "bill_drift":
        return _bill_drift(rule, now)
    if kind == "spend_limit_headroom":
        return _spend_headroom(now)
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
    prefix = f"{sc.CS_RATELIMIT_PREFIX}{rule.params['resource']}"
    remaining = f"TRY_CAST({attribute_sql(prefix + '.remaining')} AS DOUBLE)"
    limit = f"TRY_CAST({attribute_sql(prefix + '.limit')} AS DOUBLE)"
    return (f"SELECT {key_sql(rule)} AS key, count(*) AS n, "
            f"arg_max({remaining}, start_time) AS remaining, arg_max({limit}, start_time) AS lim "
            f"FROM calls WHERE start_time >= {_TS} AND {remaining} IS NOT NULL AND {limit} > 0 AND {_NOT_SPEND_LIMIT}"
            f"{_filter(rule)} GROUP BY 1",
            [now - rule.window])


def _spend_limit(rule: Rule, now: datetime) -> Query:
    # Which model and feature hit the cap last, for the summary (the contributors list the rest).
    return (f"SELECT {key_sql(rule)} AS key, count(*) AS n, count(*) AS hits, max(start_time) AS last_hit, "
            "arg_max(error_type, start_time) AS error_type, "
            "arg_max(coalesce(response_model, request_model), start_time) AS model, "
            "arg_max(feature, start_time) AS feature "
            f"FROM calls WHERE start_time >= {_TS} AND {SPEND_LIMIT}{_filter(rule)} GROUP BY 1", [now - rule.window])


def _model_changed(rule: Rule, now: datetime) -> Query:
    """Per alias (request_model) whose last switch of answering snapshot happened within the
    window: the old and new snapshot, when, and per feature the calls of the window before the
    switch and of the time since (``after``), with the sums the judge turns into rates."""
    window: timedelta = rule.window
    since = now - max(rule.params["baseline"], 2 * window)
    ok = "FILTER (WHERE c.status = 'ok')"
    return (f"""
WITH c AS (
  SELECT request_model AS alias, response_model AS model, start_time, coalesce(feature, '(none)') AS feature,
         status, cost_usd, output_tokens, stop_reason, duration_ms
  FROM calls WHERE start_time >= {_TS} AND request_model IS NOT NULL
    AND operation IS DISTINCT FROM 'count_tokens'{_filter(rule)}),
steps AS (
  SELECT alias, model, start_time, lag(model) OVER (PARTITION BY alias ORDER BY start_time) AS prev
  FROM c WHERE model IS NOT NULL),
switch AS (
  SELECT alias, arg_max(prev, start_time) AS old_model, arg_max(model, start_time) AS new_model,
         max(start_time) AS switched_at
  FROM steps WHERE prev IS NOT NULL AND prev <> model GROUP BY 1),
sides AS (
  SELECT s.alias, c.feature, c.start_time >= s.switched_at AS after, count(*) AS n,
         count(*) {ok} AS ok, sum(c.cost_usd) AS cost, count(c.cost_usd) AS priced,
         avg(c.output_tokens) {ok} AS output_tokens,
         count(*) FILTER (WHERE c.status = 'ok' AND c.stop_reason = 'max_tokens') AS max_tokens,
         count(*) FILTER (WHERE c.status = 'ok' AND c.stop_reason = 'refusal') AS refusals,
         quantile_cont(c.duration_ms, 0.95) {ok} AS p95_ms,
         count(*) FILTER (WHERE c.status = 'error') AS errors
  FROM switch s JOIN c ON c.alias = s.alias
   AND c.start_time >= s.switched_at - to_microseconds(CAST(? AS BIGINT))
  GROUP BY 1, 2, 3)
SELECT s.alias AS key, s.old_model, s.new_model, s.switched_at,
       coalesce(sum(d.n) FILTER (WHERE d.after), 0) AS n,
       list(struct_pack(feature := d.feature, after := d.after, n := d.n, ok := d.ok, cost := d.cost,
                        priced := d.priced, output_tokens := d.output_tokens, max_tokens := d.max_tokens,
                        refusals := d.refusals, p95_ms := d.p95_ms, errors := d.errors)
            ORDER BY d.feature, d.after) AS sides
FROM switch s JOIN sides d ON d.alias = s.alias
WHERE s.switched_at >= {_TS}
GROUP BY 1, 2, 3, 4""", [since, int(window.total_seconds() * 1_000_000), now - window])


def _bill_drift(rule: Rule, now: datetime) -> Query:
    """Per model and UTC day of the latest reconciliation within the window: the bill and the
    calls summed over workspaces, and each row that did not match (for cause and explanation)."""
    return ("""
SELECT model || '|' || strftime(day, '%Y-%m-%d') AS key, model, day, sum(calls) AS n,
       sum(bill_usd) AS bill_usd, sum(calls_usd) AS calls_usd, sum(diff_usd) AS diff_usd,
       list(struct_pack(workspace_id := workspace_id, cause := cause, explanation := explanation))
           FILTER (WHERE NOT matches) AS differing
FROM reconciliation_latest WHERE day >= CAST(? AS DATE)
GROUP BY model, day""", [(now - rule.window).date()])


def _spend_headroom(now: datetime) -> Query:
    """Each spend limit with a USD cap and the traced spend of its current period
    (``call_facts.spend_by_limit_sql``), keyed by scope and period."""
    starts = spend_period_starts(now)
    inner = spend_by_limit_sql({p: _TS for p in SPEND_PERIODS}, _TS)
    return (f"""
SELECT CASE WHEN scope_type = 'organization' THEN 'organization' ELSE workspace_id END || '|' || period AS key, *
FROM ({inner})""", [*(starts[p] for p in SPEND_PERIODS), min(starts.values())])


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
