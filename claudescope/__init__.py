"""claudescope: exact cost, caching, latency and reliability observability for Claude API calls.

The distribution has four components mapped into this namespace:

- ``claudescope.instrument``: OpenTelemetry instrumentation of the ``anthropic`` SDK (light).
- ``claudescope.collector``: OTLP receiver, DuckDB store, pricing at ingest, query API.
- ``claudescope.dashboard``: Streamlit dashboard reading the collector's query API.
- ``claudescope.alerts``: alert rules and apprise delivery, run inside the collector.

This top-level package holds the shared core (configuration, semantic-convention names,
the ``calls`` schema, pricing, the fake Anthropic API used by the demo and tests, the CLI).
Nothing is imported eagerly so ``import claudescope.instrument`` stays light.
"""

__version__ = "0.1.0"
