"""claudescope.alerts: rules over the ``calls`` view, and their delivery through apprise.

``engine.AlertEngine`` is what the collector runs; ``delivery.send_test`` backs
``claudescope alerts test``. Module map: rules (compile + validate) -> sql (measure) ->
judge (verdicts) -> state (lifecycle) -> outbox (durable delivery) -> delivery (apprise),
with messages (text) and whereclause / durations as leaves. See docs/alerts.md.
"""
