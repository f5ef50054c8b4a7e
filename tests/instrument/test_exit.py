"""An instrumented app's exit: bounded when its collector is down or mute, lossless when it is up or slow.

Each case runs a small app (``claudescope.instrument.configure(endpoint=...)`` + the real
``anthropic`` SDK against the bundled fake API) as a subprocess, and measures the time between
its last line of output and its exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from claudescope.fakeapi.server import free_port

MODEL = "claude-sonnet-4-5"
CALLS = 3
# Exit may take this much longer than with a healthy collector (the bound is ~1 s; the
# margin absorbs a loaded machine). Without the bound it was 7-11 s.
EXIT_MARGIN_S = 3.0

_APP = textwrap.dedent("""
    import sys
    import anthropic
    import claudescope.instrument as cs

    endpoint, base_url, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pause_after = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    exit_timeout = {"exit_timeout_s": float(sys.argv[5])} if len(sys.argv) > 5 else {}
    cs.instrument()
    cs.configure(endpoint=endpoint, service_name="exit-app", **exit_timeout)
    client = anthropic.Anthropic(base_url=base_url, api_key="test")
    for i in range(calls):
        if i == pause_after:
            print("paused", flush=True)
            sys.stdin.readline()  # the test holds the app here while the collector is stopped
        client.messages.create(model="%s", max_tokens=20, messages=[{"role": "user", "content": f"hi {i}"}])
    if pause_after >= 0:
        print("sent", flush=True)
        sys.stdin.readline()  # and here until the collector runs again
    print("done", flush=True)
""" % MODEL)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_", "CLAUDESCOPE_"))}
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra)
    return env


def _start_app(tmp_path: Path, endpoint: str, fake_api: str, *args: str, **env: str) -> subprocess.Popen[str]:
    app = tmp_path / "exit_app.py"
    app.write_text(_APP)
    return subprocess.Popen([sys.executable, str(app), endpoint, fake_api, *args], env=_env(**env), cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _exit_delay(proc: subprocess.Popen[str]) -> tuple[float, str]:
    """Seconds from the app's "done" line to its exit, and its stderr."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    done_at = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert line.strip() == "done" and proc.returncode == 0, (line, proc.returncode, err)
    return time.monotonic() - done_at, err


def _run_app(tmp_path: Path, endpoint: str, fake_api: str, *extra: str) -> tuple[float, str]:
    return _exit_delay(_start_app(tmp_path, endpoint, fake_api, str(CALLS), *extra))


@contextmanager
def _mute_server() -> Iterator[str]:
    """A loopback TCP server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def _assert_one_warning(err: str, endpoint: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"{CALLS} spans could not be sent to {endpoint}/v1/traces" in lines[0], err
    assert "Traceback" not in err and "retrying" not in err.lower()


def _stored(collector: Any, expected: int, timeout: float = 10.0) -> int:
    sql = "SELECT count(*) AS n FROM calls WHERE service_name = 'exit-app'"
    deadline = time.monotonic() + timeout
    while True:
        count = int(collector.query(sql)[0]["n"])
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def test_exit_is_bounded_and_says_what_was_lost(tmp_path: Path, fake_api: str, collector: Any) -> None:
    # (c) a healthy collector: the reference exit time, and every span stored, silently. Its
    # exit flush may wait longer than the default 1 s: on a loaded machine the collector's
    # durable commit can take that long, and this case is about delivery, not the bound.
    healthy, err = _run_app(tmp_path, collector.url, fake_api, "-1", "20")
    assert err.strip() == ""
    assert _stored(collector, CALLS) == CALLS

    # (a) nothing listening on the endpoint's port.
    refused = f"http://127.0.0.1:{free_port()}"
    down, err = _run_app(tmp_path, refused, fake_api)
    _assert_one_warning(err, refused)
    assert down < healthy + EXIT_MARGIN_S, (down, healthy)

    # (b) a server that accepts the connection and never answers.
    with _mute_server() as mute:
        silent, err = _run_app(tmp_path, mute, fake_api)
    _assert_one_warning(err, mute)
    assert silent < healthy + EXIT_MARGIN_S, (silent, healthy)


def test_a_collector_paused_while_the_app_runs_loses_nothing(tmp_path: Path, fake_api: str, collector: Any) -> None:
    # (d) The collector stops answering (SIGSTOP) while a batch is being exported, then resumes:
    # the exporter's normal retries deliver it, and the exit flush sends the rest.
    calls = 8
    proc = _start_app(tmp_path, collector.url, fake_api, str(calls), "4", "20", OTEL_BSP_SCHEDULE_DELAY="100")
    assert proc.stdout is not None and proc.stdin is not None
    if proc.stdout.readline().strip() != "paused":
        raise AssertionError(proc.communicate(timeout=30))
    time.sleep(1.0)  # the first calls' spans are exported
    os.kill(collector.proc.pid, signal.SIGSTOP)
    try:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "sent"
        time.sleep(2.0)  # the last calls' export hangs on the stopped collector
    finally:
        os.kill(collector.proc.pid, signal.SIGCONT)
    proc.stdin.write("exit\n")
    proc.stdin.flush()
    _, err = _exit_delay(proc)
    assert "could not be sent" not in err, err
    assert _stored(collector, calls) == calls


def test_claudescope_run_with_its_collector_down_exits_promptly(tmp_path: Path, fake_api: str) -> None:
    # `claudescope run` configures the child through the same configure(): same bounded exit.
    app = tmp_path / "run_app.py"
    app.write_text(textwrap.dedent(f"""
        import anthropic
        client = anthropic.Anthropic(base_url={fake_api!r}, api_key="test")
        for i in range({CALLS}):
            client.messages.create(model="{MODEL}", max_tokens=20, messages=[{{"role": "user", "content": "hi"}}])
        print("done", flush=True)
    """))
    refused = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "claudescope", "run", "--endpoint", refused, "--", sys.executable,
                             str(app)], env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    delay, err = _exit_delay(proc)
    _assert_one_warning(err, refused)
    assert delay < 6.0, delay  # the exporter's own retries took 7-11 s
