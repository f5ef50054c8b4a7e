"""The demo: a compressed production day driven through the real, instrumented ``anthropic`` SDK.

A room of its own (docs/architecture.md): it drives the fake Anthropic API
(:mod:`claudescope.fakeapi`) and the instrumentation; the core imports neither.
"""

from claudescope.demo.driver import SERVICE_NAME, DemoError, DemoInterrupted, DemoSummary, run_demo

__all__ = ["SERVICE_NAME", "DemoError", "DemoInterrupted", "DemoSummary", "run_demo"]
