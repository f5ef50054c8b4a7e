"""Refuse a dashboard page load or websocket that a foreign web page set up (issue 12).

The dashboard holds the collector's token and shows everything it can read, so a page that
rebinds its own name to 127.0.0.1 (``Host: evil.example``) or opens the dashboard's websocket
from its own origin would read the data. Streamlit's ``server.allowedHosts`` covers only the
websocket's ``Host`` and its origin check lets any page on localhost, on any port, in; this
middleware, installed by ``serve.py`` through ``st.App``, checks every request:

* HTTP and websocket: ``Host`` must be an allowed name (421 / websocket refused with 403);
  ``/_stcore/health`` is exempt so container health checks work (it says only ``ok``).
* websocket: a browser's ``Origin`` must be the dashboard's own (same scheme-less host:port as
  the ``Host`` it asked), else refused before the upgrade.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from claudescope.web_hosts import host_allowed, same_origin

HOST_EXEMPT_PATHS = frozenset({"/_stcore/health"})


class DashboardGuard:
    """ASGI middleware: Host allow-list on everything, same-origin websockets only."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self._app = app
        self._allowed = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = self.refusal(scope) if scope["type"] in ("http", "websocket") else None
        if reason is None:
            await self._app(scope, receive, send)
        elif scope["type"] == "websocket":
            # Closing before accepting makes the server answer the upgrade with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
        else:
            await PlainTextResponse(reason, 421)(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request must not reach Streamlit, or None."""
        headers = Headers(scope=scope)
        host = headers.get("host")
        if scope["path"] not in HOST_EXEMPT_PATHS and not host_allowed(host, self._allowed):
            return (f"Host {host!r} is not a name of this dashboard; add it to [server] allowed_hosts "
                    "(CLAUDESCOPE_ALLOWED_HOSTS) if it is")
        origin = headers.get("origin")
        if scope["type"] == "websocket" and origin is not None and not same_origin(origin, host):
            return "websocket from a page of another origin refused"
        return None
