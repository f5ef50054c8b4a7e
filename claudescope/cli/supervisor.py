"""``claudescope up``: run collector (+ alert engine) and dashboard as child processes.

The children are the same commands a user could run by hand (``claudescope collector`` and
``claudescope dashboard``), so the compose stack, the tests and ``up`` exercise one code path.
In the foreground, Ctrl-C or SIGTERM stops both; if one dies the other is stopped too. With
``--detach`` the children keep running and ``status`` / ``stop`` find them through a small
state file in the data directory.
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
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from claudescope.config import DEFAULT_DATA_DIR, Config
from claudescope.cli.preflight import server_problem
from claudescope.store_identity import read_store_id

STATE_FILE = "up.json"
_START_TIMEOUT_S = 60.0
_STOP_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1
_SERVER_MODULES = ("duckdb", "pyarrow", "uvicorn", "streamlit", "apprise")


@dataclass(frozen=True, slots=True)
class Child:
    """One supervised process and the URL that says it is healthy."""

    name: str
    pid: int
    url: str
    health_url: str
    # From /proc/PID/stat: tells our process from a later one that reused its PID.
    start_time: int | None = None


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
    if _running_children(config):
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
        child = Child(name, proc.pid, url, url + health, _start_time(proc.pid))
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
    if demo_calls > 0 and not _run_demo(config, demo_calls, console, stop):
        _stop_all([p for _, p in procs])
        return 0 if stop.requested else 1
    if detach:
        _write_state(config, [c for c, _ in procs])
        return 0
    return _supervise(procs, console, stop)


class _Stop:
    """A stop request, set from a signal handler: a plain flag, since a handler that takes a
    lock (threading.Event) can deadlock against the interrupted code holding it."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame: object) -> None:
        self.requested = True


def show_status(config: Config, *, console: Console) -> int:
    """Print the state of a detached ``up``; exit code 0 when everything is healthy."""
    children = _read_state(config)
    if not children:
        console.print(f"not running (no {STATE_FILE} in {config.data_dir})")
        return 3
    table = Table("process", "pid", "alive", "healthy", "address")
    healthy_all = True
    for child in children:
        alive = _is_ours(child)  # a reused PID is not our child alive
        healthy = alive and _healthy(child.health_url)
        healthy_all &= healthy
        table.add_row(child.name, str(child.pid), _yes(alive), _yes(healthy), child.url)
    console.print(table)
    return 0 if healthy_all else 1


def stop_detached(config: Config, *, console: Console) -> int:
    """Stop the processes of a detached ``up`` and remove its state file."""
    children = _read_state(config)
    if not children:
        console.print(f"not running (no {STATE_FILE} in {config.data_dir})")
        return 0
    # A stale state file may name PIDs the system has since given to other processes.
    ours = [c for c in children if _is_ours(c)]
    for child in ours:
        _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    while time.monotonic() < deadline and any(_alive(c.pid) for c in ours):
        time.sleep(0.1)
    for child in ours:
        if _is_ours(child):
            _signal_group(child.pid, signal.SIGKILL)
    (config.data_dir / STATE_FILE).unlink(missing_ok=True)
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


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return int(stat.read().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_ours(child: Child) -> bool:
    """The PID still names the process `up` started: same start time, or a claudescope command line."""
    if not _alive(child.pid):
        return False
    if child.start_time is not None:
        return _start_time(child.pid) == child.start_time
    try:  # a state file from before start times were recorded
        return b"claudescope" in Path(f"/proc/{child.pid}/cmdline").read_bytes()
    except OSError:
        return False


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _write_state(config: Config, children: Sequence[Child]) -> None:
    payload = {"children": [asdict(c) for c in children]}
    (config.data_dir / STATE_FILE).write_text(json.dumps(payload, indent=2), encoding="utf-8")


def _read_state(config: Config) -> list[Child]:
    path = config.data_dir / STATE_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return [Child(**c) for c in payload["children"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _running_children(config: Config) -> bool:
    return any(_is_ours(c) for c in _read_state(config))


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
