"""What ``claudescope dashboard`` runs: ``streamlit run serve.py -- --api URL [--config FILE]``.

The dashboard script is ``app.py``; this file wraps it in an ``st.App`` (Streamlit's supported
way to add ASGI middleware) so that :class:`DashboardGuard` sees every request, page loads
included. The allowed names come from Streamlit's own ``server.allowedHosts``, which the
launcher sets from the claudescope configuration, so Streamlit's websocket check and ours
enforce one list; run by hand without it, only loopback names are answered.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from streamlit import config as st_config

from claudescope.dashboard.web_guard import DashboardGuard
from claudescope.web_hosts import LOOPBACK_HOSTS, parse_host_names

SCRIPT = Path(__file__).resolve().parent / "app.py"


def guarded_hosts() -> tuple[str, ...]:
    """Streamlit's ``server.allowedHosts``, or the loopback names when it is empty."""
    return parse_host_names(list(st_config.get_option("server.allowedHosts") or ())) or LOOPBACK_HOSTS


app = st.App(SCRIPT, middleware=[Middleware(DashboardGuard, allowed_hosts=guarded_hosts())])
