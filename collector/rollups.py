"""The per-minute and per-hour rollups of ``calls`` the store maintains (SQL text).

Rows are additive deltas: each fold appends its own groups, a superseded call appends a
negative group, so readers always ``SUM(...) GROUP BY``. Calls are folded in behind ingest
(``rollup_state.rolled_through`` says how far); the ``<table>_live`` views add the calls not
yet folded in, so readers of the views always see every stored call.
"""

from __future__ import annotations

from typing import NamedTuple

from claudescope.collector.columns import CALLS_TABLE

_ROLLUP_SUMS = """
       {sign} * count(*), {sign} * coalesce(count_if(status = 'error'), 0),
       {sign} * sum(coalesce(input_tokens, 0)), {sign} * sum(coalesce(cache_read_tokens, 0)),
       {sign} * sum(coalesce(cache_write_5m_tokens, 0) + coalesce(cache_write_1h_tokens, 0)),
       {sign} * sum(coalesce(output_tokens, 0)), {sign} * coalesce(sum(cost_usd), 0)::DECIMAL(38,9),
       {sign} * coalesce(count_if(cost_usd IS NULL), 0), {sign} * coalesce(count_if(stop_reason = 'max_tokens'), 0),
       {sign} * coalesce(sum(duration_ms), 0)
FROM {source} WHERE start_time IS NOT NULL GROUP BY ALL"""
_MODEL_FEATURE = "coalesce(response_model, request_model, '') AS model, coalesce(feature, '') AS feature"
# The measure columns every rollup table has, after its bucket and key columns, with their types.
_MEASURES = (
    ("calls", "BIGINT"), ("errors", "BIGINT"), ("input_tokens", "HUGEINT"), ("cache_read_tokens", "HUGEINT"),
    ("cache_write_tokens", "HUGEINT"), ("output_tokens", "HUGEINT"), ("cost_usd", "DECIMAL(38,9)"),
    ("unpriced_calls", "BIGINT"), ("max_tokens_stops", "BIGINT"), ("duration_ms_sum", "DOUBLE"),
)


def calls_after(stamp_sql: str) -> str:
    """The ``calls`` rows committed after ``stamp_sql`` (a TIMESTAMPTZ expression)."""
    return f"(SELECT * FROM {CALLS_TABLE} WHERE NOT superseded AND ingested_at > {stamp_sql})"


# The calls no fold has reached yet: what the live views add to the tables. The watermark is a
# MATERIALIZED CTE rather than a scalar subquery in the filter: with the subquery, DuckDB 2.0.0
# propagates wrong range statistics to the sums, and a sort then squeezes them into a too-narrow
# type (300 read back as 44; tests/collector/test_rollup_fold.py).
UNFOLDED_CALLS = (
    "(WITH watermark AS MATERIALIZED (SELECT max(rolled_through) AS rolled_through FROM rollup_state) "
    f"SELECT c.* FROM {CALLS_TABLE} AS c, watermark WHERE NOT c.superseded AND c.ingested_at > watermark.rolled_through)"
)


class Rollup(NamedTuple):
    """One rollup table: its name, time bucket, key columns and the SELECT of its deltas."""

    table: str
    bucket: str
    keys: tuple[str, ...]
    select: str  # the deltas of {source} with {sign}, in the table's column order

    def insert(self, source: str, sign: int = 1) -> str:
        """SQL appending the deltas of ``source`` (a table name or a parenthesised SELECT)."""
        return f"INSERT INTO {self.table} " + self.select.format(source=source, sign=int(sign))

    def live_view(self) -> str:
        """SQL creating ``<table>_live``: the table plus the calls not yet folded in."""
        return f"CREATE OR REPLACE VIEW {self.table}_live AS SELECT * FROM {self.table} UNION ALL " + self.select.format(
            source=UNFOLDED_CALLS, sign=1
        )

    def compact(self) -> tuple[str, str, str]:
        """(merge, delete, reinsert) SQL that rewrites the rows of buckets in [$1, $2) as one row
        per group, via the temporary table ``rollup_compact``; groups that net to no call vanish."""
        sums = ", ".join(f"sum({name})::{sql_type} AS {name}" for name, sql_type in _MEASURES)
        in_range = f"{self.bucket} >= $1 AND {self.bucket} < $2"
        merge = (
            f"CREATE OR REPLACE TEMP TABLE rollup_compact AS SELECT {self.bucket}, {', '.join(self.keys)}, {sums} "
            f"FROM {self.table} WHERE {in_range} GROUP BY ALL HAVING sum(calls) <> 0"
        )
        return merge, f"DELETE FROM {self.table} WHERE {in_range}", f"INSERT INTO {self.table} SELECT * FROM rollup_compact"


ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "calls_minute", "minute", ("model", "feature", "user_id"),
        "SELECT date_trunc('minute', start_time) AS minute, " + _MODEL_FEATURE + ", coalesce(user_id, '') AS user_id," + _ROLLUP_SUMS,
    ),
    Rollup(
        "calls_hour", "hour", ("model", "feature", "stop_reason"),
        "SELECT date_trunc('hour', start_time) AS hour, " + _MODEL_FEATURE + ", coalesce(stop_reason, '') AS stop_reason," + _ROLLUP_SUMS,
    ),
)
