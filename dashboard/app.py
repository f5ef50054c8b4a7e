"""The dashboard's entry script: ``streamlit run app.py -- --api URL [--config FILE]``.

It is an entry point, so it alone reads its arguments and the environment (the collector token
arrives as ``CLAUDESCOPE_TOKEN``, never on the command line), resolves the configuration once,
draws the shared sidebar and hands the context to the selected page.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from claudescope.config import ConfigError, load_config
from claudescope.dashboard import sidebar
from claudescope.dashboard.client import QueryClient, QueryError
from claudescope.dashboard.context import DashboardContext, publish
from claudescope.pricing import PriceDataError, PriceTable

HERE = Path(__file__).resolve().parent
PAGES = (
    ("overview.py", "Overview", ":material/dashboard:", "overview"),
    ("cost.py", "Cost", ":material/payments:", "cost"),
    ("caching.py", "Caching", ":material/cached:", "caching"),
    ("latency.py", "Latency & reliability", ":material/speed:", "latency"),
    ("stop_reasons.py", "Stop reasons", ":material/block:", "stop-reasons"),
    ("calls.py", "Calls explorer", ":material/list:", "calls"),
    ("coding_agents.py", "Coding agents", ":material/terminal:", "coding-agents"),
    ("advisor.py", "Savings advisor", ":material/savings:", "advisor"),
    ("alerts.py", "Alerts", ":material/notifications:", "alerts"),
)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="claudescope-dashboard", add_help=False)
    parser.add_argument("--api", help="collector base URL, or a comma-separated list of shards")
    parser.add_argument("--config", type=Path, help="claudescope.toml (budgets, price overrides)")
    parser.add_argument("--refresh", type=float, default=30.0, help="auto-refresh seconds, 0 = off")
    args, _ = parser.parse_known_args(argv)
    return args


@st.cache_resource(show_spinner=False)
def _context(api: str | None, config_file: str | None, token: str | None, refresh_s: float,
             env_items: tuple[tuple[str, str], ...]) -> DashboardContext:
    config = load_config(Path(config_file) if config_file else None, env=dict(env_items))
    client = QueryClient.from_api(api or config.api_url, token=token or config.token,
                                  timeout_s=config.query.timeout_s + 5)
    return DashboardContext(client=client, budget=config.budget, prices=PriceTable.load(config.pricing),
                            refresh_s=refresh_s)


def _login_gate() -> None:
    # OIDC login only when the operator configured [auth] in .streamlit/secrets.toml.
    try:
        configured = "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):
        configured = False
    if configured and not st.user.is_logged_in:
        st.title("claudescope")
        st.button("Log in", on_click=st.login, type="primary")
        st.stop()


def main() -> None:
    """Resolve the context, draw the sidebar, run the selected page."""
    st.set_page_config(page_title="claudescope", page_icon=":material/monitoring:", layout="wide")
    _login_gate()
    args = _arguments(sys.argv[1:])
    env = {k: v for k, v in os.environ.items() if k.startswith("CLAUDESCOPE_")}
    api = args.api or env.get("CLAUDESCOPE_API")
    try:
        context = _context(api, str(args.config) if args.config else None, env.get("CLAUDESCOPE_TOKEN"),
                           args.refresh, tuple(sorted(env.items())))
    except (ConfigError, QueryError, PriceDataError) as exc:
        st.error(f"claudescope cannot start: {exc}")
        st.stop()
        return
    pages = [st.Page(str(HERE / "views" / file), title=title, icon=icon, url_path=path, default=(path == "overview"))
             for file, title, icon, path in PAGES]
    navigation = st.navigation(pages)
    with st.sidebar:
        st.markdown("## :material/monitoring: claudescope")
        st.caption("Claude API cost, caching, latency and reliability")
    publish(context, sidebar.render(context))
    navigation.run()


main()
