"""The bundled fake Anthropic API: a Starlette server answering like the real Messages API.

A room of its own (docs/architecture.md), for the demo, the tests and users who want to point
their own app at something without a key: ``python -m claudescope.fakeapi --port 8765``.
It also bills what it answered and serves the Admin API's Usage & Cost reports and spend
limits from that bill (``claudescope reconcile`` reads them); see ``fakeapi.admin``.
"""
