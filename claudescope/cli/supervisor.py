"""``claudescope up``: run collector (+ alert engine) and dashboard as child processes.

The children are the same commands a user could run by hand (``claudescope collector`` and
``claudescope dashboard``), so the compose stack, the tests and ``up`` exercise one code path.
In the foreground, Ctrl-C or SIGTERM stops both; if one dies the other is stopped too. With
``--detach`` the children keep running. Either way ``status`` / ``stop`` find them through a
small state file in the data directory; a foreground ``up`` also records its own PID there (so
``stop`` can Ctrl-C it: it then stops its children in order) and removes the file when it exits.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from claudescope.config import DEFAULT_DATA_DIR, Config
from claudescope.cli.preflight import server_problem
from claudescope.cli.up_state import (
    STATE_FILE, Child, alive, is_ours, read_state, remove_state, running_children, start_time,
    this_process, write_state,
)
from claudescope.store_identity import read_store_id

_START_TIMEOUT_S = 60.0
_STOP_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1
_SERVER_MODULES = ("duckdb", "pyarrow", "uvicorn", "streamlit", "apprise")


def run_up(config: Config, *, detach: bool, console: Console, demo_calls: int = 0) -> int:
    """Start collector and dashboard, print where they are, and supervise them.

    With ``demo_calls`` > 0, a demo day of that many calls is driven into the collector once
    both are healthy. Returns the exit code: 0 after a clean stop, 1 if a child failed.
    """
    missing = _missing_server_modules()
    if missing:
        console.print(
            f"[bold red]{', '.join(missing)} not installed[/]: `claudescope up` needs the server extra "
            "(pip install 'claudescope\\[server]')"
        )
        return 3
    if running_children(config):
        console.print(f"[yellow]already running[/] for {config.data_dir} (see `claudescope status`)")
        return 1
    # Before any child starts or any log is opened: a busy port or a store served elsewhere
    # would otherwise look healthy (another instance answers) and its log would get our errors.
    ports = {"port": config.port, "grpc_port": config.grpc_port, "dashboard_port": config.dashboard_port}
    problem = server_problem(config.host, ports, config.data_dir, config.db_path)
    if problem:
        console.print(f"[bold red]cannot start[/]: {escape(problem)}")
        return 1
    procs: list[tuple[Child, subprocess.Popen[bytes]]] = []
    # Ctrl-C or SIGTERM at any moment, even while the children are still starting, is a stop
    # request: the children are stopped in order and `up` exits cleanly.
    stop = _Stop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop.handle)
    for name, argv, url, health in _plan(config):
        proc = _spawn(argv, config.data_dir / f"{name}.log", detach=detach)
        child = Child(name, proc.pid, url, url + health, start_time(proc.pid))
        procs.append((child, proc))
        if not _wait_healthy(child, proc, stop) or not _serves_our_store(config, child, proc):
            if not stop.requested:
                log = config.data_dir / f"{name}.log"
                console.print(f"[bold red]{name} did not start[/]: {escape(_last_line(log))} (see {log})")
            _stop_all([p for _, p in procs])
            if stop.requested:
                console.print("stopped")
                return 0
            return 1
    console.print(_where_panel(config, detach=detach))
    children = [c for c, _ in procs]
    if detach:
        failed = _demo(config, procs, console, stop, demo_calls)
        if failed is None:
            write_state(config, children)
        return 0 if failed is None else failed
    write_state(config, children, supervisor=this_process())
    try:
        failed = _demo(config, procs, console, stop, demo_calls)
        return _supervise(procs, console, stop) if failed is None else failed
    finally:
        remove_state(config)


def _demo(
    config: Config, procs: list[tuple[Child, subprocess.Popen[bytes]]], console: Console, stop: _Stop, demo_calls: int,
) -> int | None:
    """Drive the demo day when asked; the exit code when it did not finish (the children are
    stopped then), else None."""
    if demo_calls > 0 and not _run_demo(config, demo_calls, console, stop):
        _stop_all([p for _, p in procs])
        return 0 if stop.requested else 1
    return None


class _Stop:
    """A stop request, set from a signal handler: a plain flag, since a handler that takes a
    lock (threading.Event) can deadlock against the interrupted code holding it."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame: object) -> None:
        self.requested = True


def show_status(config: Config, *, console: Console) -> int:
    """Print the state of an ``up`` (detached or in the foreground); exit code 0 when everything
    is healthy."""
    children, supervisor = read_state(config)
    if not children:
        console.print(f"not running (no {STATE_FILE} in {config.data_dir})")
        return 3
    if supervisor is not None and is_ours(supervisor):
        console.print(f"claudescope up is running in the foreground (pid {supervisor.pid})")
    elif supervisor is not None and not any(is_ours(c) for c in children):
        console.print(f"not running (the foreground up that wrote {STATE_FILE} in {config.data_dir} was killed)")
        return 3
    table = Table("process", "pid", "alive", "healthy", "address")
    healthy_all = True
    for child in children:
        running = is_ours(child)  # a reused PID is not our child alive
        healthy = running and _healthy(child.health_url)
        healthy_all &= healthy
        table.add_row(child.name, str(child.pid), _yes(running), _yes(healthy), child.url)
    console.print(table)
    return 0 if healthy_all else 1


def stop_detached(config: Config, *, console: Console) -> int:
    """Stop the processes of an ``up`` and remove its state file. A foreground ``up`` gets the
    SIGINT of a Ctrl-C (which also cuts a running demo short); what it leaves running after the
    grace time is killed."""
    children, supervisor = read_state(config)
    if not children:
        console.print(f"not running (no {STATE_FILE} in {config.data_dir})")
        return 0
    if supervisor is not None and is_ours(supervisor):
        running = [c for c in children if is_ours(c)]
        _stop_supervisor(supervisor)
        console.print(f"stopped claudescope up (pid {supervisor.pid}) and its " + ", ".join(f"{c.name} ({c.pid})" for c in running))
        children = [c for c in running if is_ours(c)]  # what it could not stop in time
        if not children:
            remove_state(config)
            return 0
    # A stale state file may name PIDs the system has since given to other processes.
    ours = [c for c in children if is_ours(c)]
    for child in ours:
        _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    while time.monotonic() < deadline and any(alive(c.pid) for c in ours):
        time.sleep(0.1)
    for child in ours:
        if is_ours(child):
            _signal_group(child.pid, signal.SIGKILL)
    remove_state(config)
    gone = [c for c in children if c not in ours]
    if gone:
        console.print("not running any more (stale state, left alone): " + ", ".join(f"{c.name} ({c.pid})" for c in gone))
    if ours:
        console.print("stopped " + ", ".join(f"{c.name} ({c.pid})" for c in ours))
    return 0


def _missing_server_modules() -> list[str]:
    return [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]


def _plan(config: Config) -> list[tuple[str, list[str], str, str]]:
    """(name, argv, base URL, health path) of each child, in start order."""
    base = [sys.executable, "-m", "claudescope"]
    common = ["--config", str(config.config_file)] if config.config_file else []
    collector = [
        *base, "collector", "--data", str(config.data_dir), "--host", config.host,
        "--port", str(config.port), "--grpc-port", str(config.grpc_port), *common,
    ]
    dashboard = [
        *base, "dashboard", "--api", config.api_url, "--host", config.host,
        "--port", str(config.dashboard_port), *common,
    ]
    return [
        ("collector", collector, config.api_url, "/healthz"),
        ("dashboard", dashboard, config.dashboard_url, "/_stcore/health"),
    ]


def _spawn(argv: Sequence[str], log_path: Path, *, detach: bool) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns the descriptor from here on
    try:
        return subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Own process group so Ctrl-C reaches us only and we stop children in order.
            start_new_session=True,
            preexec_fn=None if detach else _die_with_parent,
        )
    finally:
        log.close()


def _die_with_parent() -> None:
    # Linux only: if `up` is SIGKILLed its children get SIGTERM instead of becoming orphans.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _wait_healthy(child: Child, proc: subprocess.Popen[bytes], stop: _Stop) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline and not stop.requested:
        if proc.poll() is not None:
            return False
        if _healthy(child.health_url):
            return True
        time.sleep(0.2)
    return False


def _serves_our_store(config: Config, child: Child, proc: subprocess.Popen[bytes]) -> bool:
    """The collector that answers is our child, serving this data dir's store (not another instance)."""
    if child.name != "collector":
        return proc.poll() is None
    request = urllib.request.Request(child.url + "/api/v1/store")
    if config.token:
        request.add_header("Authorization", f"Bearer {config.token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback URL
            served = json.loads(response.read()).get("store_id")
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return False
    return proc.poll() is None and served is not None and served == read_store_id(config.data_dir)


def _last_line(log: Path) -> str:
    """The last line a failed child wrote: the cause, in one line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "it wrote nothing"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback health URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _supervise(procs: list[tuple[Child, subprocess.Popen[bytes]]], console: Console, stop: _Stop) -> int:
    failed: Child | None = None
    while not stop.requested and failed is None:
        for child, proc in procs:
            if proc.poll() is not None:
                failed = child
        time.sleep(0.2)
    if failed is not None:
        console.print(f"[bold red]{failed.name} exited[/]; stopping the rest")
    else:
        console.print("stopping ...")
    _stop_all([p for _, p in procs])
    console.print("stopped")
    return 1 if failed is not None else 0


def _stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    # Dashboard first so no query lands on a collector that is closing its store.
    for proc in reversed(procs):
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    for proc in reversed(procs):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_supervisor(supervisor: Child) -> None:
    """Ctrl-C a foreground ``up`` and give it the time it takes to stop its children."""
    try:
        os.kill(supervisor.pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + _STOP_GRACE_S + 5
    while time.monotonic() < deadline and is_ours(supervisor):
        time.sleep(0.1)


def _run_demo(config: Config, calls: int, console: Console, stop: _Stop) -> bool:
    from claudescope.demo import run_demo

    # The demo is a long blocking call: let Ctrl-C interrupt it right away.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        summary = run_demo(
            endpoint=config.api_url, calls=calls, seed=7, live_api_key=None, concurrency=8, console=console,
            token=config.token,
        )
    except KeyboardInterrupt:
        stop.requested = True
        return False
    finally:
        signal.signal(signal.SIGINT, previous)
    console.print(summary)
    console.print(f"[bold green]demo day loaded[/]: open {config.dashboard_url}")
    return True


def _yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"


def _stop_command(config: Config) -> str:
    if config.data_dir == DEFAULT_DATA_DIR:
        return "claudescope stop"
    return f"claudescope stop --data {config.data_dir}"


def _where_panel(config: Config, *, detach: bool) -> Panel:
    grpc = f"{config.api_url.rsplit(':', 1)[0]}:{config.grpc_port}" if config.grpc_port else "off"
    lines = [
        f"[bold]dashboard[/]      {config.dashboard_url}",
        f"[bold]OTLP/HTTP[/]      {config.api_url}  (POST /v1/traces)",
        f"[bold]OTLP/gRPC[/]      {grpc}",
        f"[bold]query API[/]      {config.api_url}/api/v1/query   metrics: {config.api_url}/metrics",
        f"[bold]data[/]           {config.data_dir.resolve()}  (logs: collector.log, dashboard.log)",
        f"[bold]config[/]         {config.config_file or '(defaults; create claudescope.toml to set budgets and alerts)'}",
        "",
        f"demo traffic:   claudescope demo --endpoint {config.api_url}",
        f"your app:       claudescope run --endpoint {config.api_url} -- python app.py",
        "stop:           " + (_stop_command(config) if detach else "Ctrl-C"),
    ]
    return Panel("\n".join(lines), title="claudescope is up", border_style="green")
