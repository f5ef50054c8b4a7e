"""``python -m claudescope.fakeapi``: serve the fake Anthropic API until Ctrl-C."""

from claudescope.fakeapi.app import main

main()
