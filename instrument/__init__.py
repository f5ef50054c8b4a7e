"""claudescope.instrument."""
