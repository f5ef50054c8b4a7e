"""claudescope.collector: OTLP receiver -> priced ``calls`` rows in DuckDB -> query API.

Modules: ``service`` (composition root, ``run_collector``), ``app`` (HTTP routes), ``otlp``
(wire formats and limits), ``decode`` (body -> Arrow rows, in ``ingest_workers`` processes),
``normalize`` + ``aliases`` (span -> call row, the one alias table), ``columns`` (row shapes),
``stacking`` (one row per call across stacked producers), ``writer`` (bounded queue + group
commit), ``store`` (the only DuckDB user), ``query_api`` (read-only guard), ``grpc_server``,
``metrics``, ``sqlcli``, ``admin`` / ``admin_api`` (reprice, export, backup, restore).

What readers can query (POST /api/v1/query, ``claudescope sql``):

- ``calls``: the SPEC §4 view, one row per logical call.
- ``calls_hour_live``: hour x model x feature x stop_reason rollup (model = response model,
  else request model; '' for none) with calls, errors, input/cache_read/cache_write/output
  tokens, cost_usd, unpriced_calls, max_tokens_stops, duration_ms_sum. Rows are additive
  deltas: always ``SUM(...) GROUP BY``. Use it for long-range spend/token/stop-reason charts.
- ``calls_minute_live``: the same per minute x model x feature x user_id (no stop_reason).
- ``calls_hour`` / ``calls_minute``: the tables behind those views. The writer folds new calls
  into them at most once a second under load (and when idle), and compacts the buckets it
  touched to one row per group every 30 s; ``rollup_state.rolled_through`` says how far they
  reach. The ``_live`` views add the calls after that, so they are always exact.
- ``alert_events`` (+ the alert engine's tables), ``call_spans`` (every producer's copy,
  with ``superseded``), ``schema_migrations``.

Tip: ``date_trunc`` / casts on TIMESTAMPTZ go through ICU and are slow over millions of rows
(~1 s per 10 M); over ``calls`` prefer the rollups, or integer buckets such as
``to_timestamp(epoch_us(start_time) // 86400000000 * 86400)`` (~5x faster).
"""
