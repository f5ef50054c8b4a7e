"""``python -m claudescope`` runs the CLI."""

from claudescope.cli import main

if __name__ == "__main__":  # not when a spawned worker process re-imports the main module
    main()
