"""claudescope.dashboard."""
