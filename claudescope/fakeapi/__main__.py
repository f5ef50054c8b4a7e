"""``python -m claudescope.fakeapi``: serve the fake Anthropic API until Ctrl-C."""

from claudescope.fakeapi.cli import main

main()
