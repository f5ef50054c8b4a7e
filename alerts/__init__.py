"""claudescope.alerts."""
