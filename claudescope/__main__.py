"""``python -m claudescope`` runs the CLI."""

from claudescope.cli import main

main()
