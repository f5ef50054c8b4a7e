"""Regenerate the README's dashboard screenshots (docs/screenshots/*.png).

Runs the browser test (a real collector filled by `claudescope demo`, a real dashboard, headless
Chromium at /usr/bin/chromium) with its screenshots pointed here instead of at a temp dir:

    python docs/screenshots/regenerate.py

Plain test runs never write into the checkout; only this script does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def main() -> int:
    """Run tests/dashboard/test_browser.py with CLAUDESCOPE_SCREENSHOTS_DIR set to this folder."""
    env = {**os.environ, "CLAUDESCOPE_SCREENSHOTS_DIR": str(HERE)}
    argv = [sys.executable, "-m", "pytest", "-q", "-x", "tests/dashboard/test_browser.py"]
    return subprocess.run(argv, cwd=REPO, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
