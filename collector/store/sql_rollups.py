"""SQL of the rollup tables, built from the rollup contract (claudescope.rollup_contract).

Rows are additive deltas: each fold appends its own groups, a superseded call appends a
negative group, so readers always ``SUM(...) GROUP BY``. Calls are folded in behind ingest
(``rollup_state.rolled_through`` says how far); the ``<table>_live`` views (migration 0004)
add the calls not yet folded in.
"""

from __future__ import annotations

from dataclasses import dataclass

from claudescope.collector.columns import CALLS_TABLE
from claudescope.rollup_contract import LAYOUTS, MEASURES, Layout

LOAD_STATE = f"SELECT (SELECT max(ingested_at) FROM {CALLS_TABLE}), (SELECT max(rolled_through) FROM rollup_state)"
MARK_FOLDED = "UPDATE rollup_state SET rolled_through = ?"
# Folded calls, to check the rollups against (count and cost).
FOLDED_TOTALS = (
    f"SELECT count(*), coalesce(sum(cost_usd), 0) FROM {CALLS_TABLE} WHERE NOT superseded "
    "AND start_time IS NOT NULL AND ingested_at <= (SELECT max(rolled_through) FROM rollup_state)"
)
FIRST_CALL_SINCE = "SELECT min(start_time) FROM calls WHERE start_time >= ?"
CALLS_IN_RANGE = "(SELECT * FROM calls WHERE start_time >= $1 AND start_time < $2)"
DROP_COMPACT = "DROP TABLE IF EXISTS rollup_compact"


def calls_after(stamp_sql: str) -> str:
    """The ``calls`` rows committed after ``stamp_sql`` (a TIMESTAMPTZ expression)."""
    return f"(SELECT * FROM {CALLS_TABLE} WHERE NOT superseded AND ingested_at > {stamp_sql})"


def first_unfolded_start() -> str:
    """The oldest start_time among calls committed after the watermark $1."""
    return f"SELECT min(start_time) FROM {calls_after('$1')}"


def _select(layout: Layout) -> str:
    """The SELECT of ``layout``'s deltas of {source} with {sign}, in the table's column order."""
    keys = ", ".join(f"{k.expr} AS {k.column}" for k in layout.keys)
    sums = ", ".join(f"{{sign}} * {m.aggregate}" for m in MEASURES)
    return (f"SELECT date_trunc('{layout.bucket}', start_time) AS {layout.bucket}, {keys}, {sums} "
            "FROM {source} WHERE start_time IS NOT NULL GROUP BY ALL")


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup table's statements."""

    layout: Layout

    @property
    def table(self) -> str:
        """The table name."""
        return self.layout.table

    @property
    def bucket(self) -> str:
        """The bucket column (and its date_trunc unit)."""
        return self.layout.bucket

    def insert(self, source: str, sign: int = 1) -> str:
        """SQL appending the deltas of ``source`` (a table name or a parenthesised SELECT)."""
        return f"INSERT INTO {self.table} " + _select(self.layout).format(source=source, sign=int(sign))

    def delete_from(self) -> str:
        """SQL deleting the buckets at or after ?."""
        return f"DELETE FROM {self.table} WHERE {self.bucket} >= ?"

    def delete_before(self) -> str:
        """SQL deleting the buckets before ? (retention)."""
        return f"DELETE FROM {self.table} WHERE {self.bucket} < ?"

    def first_bucket_since(self) -> str:
        """SQL: the first bucket at or after ?."""
        return f"SELECT min({self.bucket}) FROM {self.table} WHERE {self.bucket} >= ?"

    def totals(self) -> str:
        """SQL: (calls, cost) summed over the table."""
        return f"SELECT coalesce(sum(calls), 0), coalesce(sum(cost_usd), 0) FROM {self.table}"

    def compact(self) -> tuple[str, str, str]:
        """(merge, delete, reinsert) SQL that rewrites the rows of buckets in [$1, $2) as one row
        per group, via the temporary table ``rollup_compact``; groups that net to no call vanish."""
        sums = ", ".join(f"sum({m.column})::{m.sql_type} AS {m.column}" for m in MEASURES)
        in_range = f"{self.bucket} >= $1 AND {self.bucket} < $2"
        merge = (
            f"CREATE OR REPLACE TEMP TABLE rollup_compact AS SELECT {self.bucket}, {', '.join(self.layout.key_columns)}, {sums} "
            f"FROM {self.table} WHERE {in_range} GROUP BY ALL HAVING sum(calls) <> 0"
        )
        return merge, f"DELETE FROM {self.table} WHERE {in_range}", f"INSERT INTO {self.table} SELECT * FROM rollup_compact"


ROLLUPS: tuple[Rollup, ...] = tuple(Rollup(layout) for layout in LAYOUTS)
