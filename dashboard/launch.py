"""``claudescope dashboard``: run the packaged Streamlit app as a child process.

Streamlit runs ``serve.py``, which wraps ``app.py`` in the Host/Origin guard (issue 12); the
allowed names travel as Streamlit's own ``server.allowedHosts`` option.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from claudescope.config import Config
from claudescope.web_hosts import allowed_hosts

APP = Path(__file__).resolve().parent / "app.py"
SERVE = APP.parent / "serve.py"


def streamlit_command(api_url: str, *, config: Config) -> list[str]:
    """The ``streamlit run`` command line (no secrets: the token goes through the environment)."""
    hosts = allowed_hosts(config.host, config.allowed_hosts)
    command = [
        sys.executable, "-m", "streamlit", "run", str(SERVE),
        "--server.headless", "true",
        "--server.address", config.host,
        "--server.port", str(config.dashboard_port),
        "--browser.gatherUsageStats", "false",
        # Pinned whatever a ~/.streamlit/config.toml says: pages of other sites stay out.
        "--server.enableCORS", "true",
        "--server.enableXsrfProtection", "true",
        *(arg for name in hosts for arg in ("--server.allowedHosts", name)),
        "--", "--api", api_url,
    ]
    if config.config_file is not None:
        command += ["--config", str(Path(config.config_file).resolve())]
    return command


def run_dashboard(api_url: str, *, config: Config) -> int:
    """Run the dashboard against ``api_url`` (comma-separated for shards) until it exits.

    Returns:
        the Streamlit process's exit code (0 after Ctrl-C).
    """
    env = dict(os.environ)
    if config.token:
        env["CLAUDESCOPE_TOKEN"] = config.token
    # The app finds its theme in .streamlit/ next to app.py only when started from there.
    process = subprocess.Popen(streamlit_command(api_url, config=config), env=env, cwd=APP.parent)
    # A supervisor stops us with SIGTERM: pass it on, or Streamlit would outlive us as an orphan.
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: process.send_signal(signum))
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return _reap(process)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _reap(process: subprocess.Popen[bytes]) -> int:
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return 0
