"""claudescope.collector."""
