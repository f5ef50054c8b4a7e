"""Checks a server command makes before it starts anything: ports, data directory, store lock.

Each check answers None when all is well, or one line naming the cause and what to change, so
that ``claudescope collector`` and ``claudescope up`` refuse before writing anything (no log, no
state file) rather than report success over a process that cannot run.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from pathlib import Path


def port_problem(host: str, port: int, option: str) -> str | None:
    """Why ``host:port`` cannot be listened on (``option`` names the setting), or None."""
    if not port:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The same option the servers use: a port in TIME_WAIT is free, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use: choose another with {option}"
            return f"cannot listen on {host}:{port} ({exc.strerror or exc}): set {option}"
    return None


def data_dir_problem(data_dir: Path) -> str | None:
    """Why ``data_dir`` cannot hold a store (missing and not creatable, or not writable), or None."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        return f"data directory {data_dir} is not writable ({exc.strerror or exc}): choose another with --data"
    return None


def lock_holder(path: Path) -> int | None:
    """The PID holding a POSIX lock on ``path`` (DuckDB's lock on its file), or None.

    Read from /proc/locks so that no DuckDB connection is needed to ask; None where there is
    no /proc (the store's own open then reports the lock).
    """
    try:
        st = path.stat()
        locks = Path("/proc/locks").read_text(encoding="ascii")
    except OSError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in locks.splitlines():
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 11802 fe:00:2146352 0 EOF"; blocked waiters carry "->".
        if len(fields) >= 6 and fields[1] != "->" and fields[5] == wanted:
            return int(fields[4])
    return None


def store_problem(data_dir: Path, db_path: Path) -> str | None:
    """Why the store in ``data_dir`` cannot be opened for writing (its lock is held), or None."""
    pid = lock_holder(db_path)
    if pid is None or pid == os.getpid():
        return None
    return f"the store in {data_dir} is in use by process {pid} (another collector serves it): stop it, or choose another --data"


def _option(flag: str, key: str) -> str:
    return f"{flag} (CLAUDESCOPE_{key.upper()}, or {key} under [server] in claudescope.toml)"


def server_problem(host: str, ports: dict[str, int], data_dir: Path, db_path: Path) -> str | None:
    """The first reason a server cannot start: data directory, store lock, then each port.

    ``ports`` maps a config key (``port``, ``grpc_port``, ``dashboard_port``) to its value; its
    command-line flag is the key with dashes.
    """
    problem = data_dir_problem(data_dir) or store_problem(data_dir, db_path)
    if problem:
        return problem
    for key, port in ports.items():
        problem = port_problem(host, port, _option("--" + key.replace("_", "-"), key))
        if problem:
            return problem
    return None
