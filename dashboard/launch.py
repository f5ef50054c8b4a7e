"""``claudescope dashboard``: run the packaged Streamlit app as a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from claudescope.config import Config

APP = Path(__file__).resolve().parent / "app.py"


def streamlit_command(api_url: str, *, config: Config) -> list[str]:
    """The ``streamlit run`` command line (no secrets: the token goes through the environment)."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--server.address", config.host,
        "--server.port", str(config.dashboard_port),
        "--browser.gatherUsageStats", "false",
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
