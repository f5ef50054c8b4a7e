"""Which ``Host`` names and browser origins the collector and the dashboard answer.

Both services listen on loopback without a token by default, so any web page the user opens can
aim a browser at them: by DNS rebinding (a name the attacker controls, resolved to 127.0.0.1,
arrives with that name in ``Host``) or by a cross-site request (it arrives with an ``Origin``).
The rules here are shared by the collector's ASGI guard and the dashboard's, so a name in
``[server] allowed_hosts`` means the same to both. Standard library only: this is the core.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
# A DNS name (optionally "*." for any subdomain), "*" for any name, or an IP literal.
_NAME = re.compile(r"\*|(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|[0-9a-f:.]*:[0-9a-f:.]*")


def parse_host_names(raw: object) -> tuple[str, ...]:
    """``allowed_hosts`` from a TOML list or one string of names separated by commas or spaces.

    Raises:
        ValueError: saying which entry is not a bare host name (no scheme, port or path).
    """
    items = re.split(r"[\s,]+", raw) if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ValueError("expected a list of host names")
    names = tuple(_normalise(item) for item in items if item.strip())
    for name in names:
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a host name: give names only, without scheme, port or path "
                             "(e.g. dash.example.com)")
    return names


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The names a service bound to ``bind_host`` answers: loopback, that host, and ``extra``."""
    names = [*LOOPBACK_HOSTS]
    if bind_host not in WILDCARD_BINDS:
        names.append(_normalise(bind_host))
    names.extend(_normalise(name) for name in extra)
    return tuple(dict.fromkeys(names))


def hostname_of(host_header: str | None) -> str | None:
    """The lower-case name of a ``Host`` header value (port dropped), or None when malformed."""
    if not host_header:
        return None
    try:
        parts = urlsplit("//" + host_header)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        return None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return parts.hostname.lower().rstrip(".")


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """Whether ``host_header`` names one of ``allowed`` (ports are ignored; ``*.x`` = subdomains)."""
    name = hostname_of(host_header)
    if name is None:
        return False
    for pattern in allowed:
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def same_origin(origin: str, host_header: str | None) -> bool:
    """Whether a browser's ``Origin`` is the page of the very host:port being asked.

    ``Origin: null`` (sandboxed frames, ``file://``) and any other scheme or address are not.
    """
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc or not host_header:
        return False
    return parts.netloc.lower() == host_header.strip().lower()


def _normalise(name: str) -> str:
    return name.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
