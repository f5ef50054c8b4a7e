"""The command line and process supervision (``claudescope up/status/stop``, price printing).

A room of its own (docs/architecture.md): it imports the components it starts and drives; the
core imports nothing from here.
"""

from claudescope.cli.commands import app, main

__all__ = ["app", "main"]
