"""Start `claudescope dashboard --api URL --port P` exactly as a user does, for the browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from claudescope.fakeapi.server import free_port


@contextmanager
def running_dashboard(api_url: str, cwd: Path, *extra_args: str) -> Iterator[str]:
    """Yield the dashboard's URL once its health check answers; stop it on exit.

    The child sees none of the caller's CLAUDESCOPE_/OTEL_/ANTHROPIC_ variables, so a user's
    own settings cannot steer the test.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}
    proc = subprocess.Popen([sys.executable, "-m", "claudescope", "dashboard", "--api", api_url,
                             "--port", str(port), *extra_args],
                            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited with {proc.returncode}")
        try:
            if httpx.get(url + "/_stcore/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("dashboard did not start")
