"""The bundled fake Anthropic API: a Starlette server answering like the real Messages API.

A room of its own (docs/architecture.md), for the demo, the tests and users who want to point
their own app at something without a key: ``python -m claudescope.fakeapi --port 8765``.
"""
