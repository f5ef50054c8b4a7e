"""Refuse what a web page in the user's browser can send the collector (issue 12).

Without a token the collector trusts whoever reaches it, and every web page the user opens can
reach 127.0.0.1. Three checks, before authentication and before any handler runs:

* ``Host`` must be one of the collector's names (421): a DNS-rebinding page arrives under its
  own name. ``/healthz`` is exempt so container health checks work; it says only ``ok``.
* A browser's cross-site marks (``Sec-Fetch-Site: cross-site|same-site``, an ``Origin`` that is
  not the collector itself) get 403. OTLP exporters, the CLI and the dashboard's server-side
  client send neither header.
* Bodies of ``/api/v1/query`` and ``/api/v1/admin/*`` must be ``application/json`` (415): a page
  can send ``text/plain`` without a CORS preflight, but not JSON. The OTLP routes check their own
  types (``otlp.media_type``).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from claudescope.web_hosts import host_allowed, same_origin

HOST_EXEMPT_PATHS = frozenset({"/healthz"})
_JSON_PATHS = ("/api/v1/query", "/api/v1/admin/")
_BODYLESS = frozenset({"GET", "HEAD"})


class WebGuard:
    """ASGI middleware answering 421/403/415 with a one-line reason (see the module docstring)."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self._app = app
        self._allowed = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only HTTP: the collector has no websocket route, Starlette closes those itself.
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await _answer(scope["path"], *refusal)(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the request must not reach the app, else None."""
        headers = Headers(scope=scope)
        path: str = scope["path"]
        host = headers.get("host")
        if path not in HOST_EXEMPT_PATHS and not host_allowed(host, self._allowed):
            return 421, (f"Host {host!r} is not a name of this collector; add it to [server] allowed_hosts "
                         "(CLAUDESCOPE_ALLOWED_HOSTS) if it is")
        if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return 403, "cross-site requests from a web browser are refused"
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, host):
            return 403, f"requests from web pages of another origin ({origin[:100]}) are refused"
        if scope["method"] not in _BODYLESS and path.startswith(_JSON_PATHS):
            kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if kind != "application/json":
                return 415, f"unsupported content type {kind or '(none)'!r}; send application/json"
        return None


def _answer(path: str, status: int, reason: str) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"error": reason}, status)
    return PlainTextResponse(reason, status)
