"""The state file of ``claudescope up`` (``up.json`` in the data directory) and the identity of
the processes it names: how ``status`` and ``stop`` find an ``up``, detached or in the foreground,
and tell its processes from later ones that reused their PIDs."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from claudescope.config import Config

STATE_FILE = "up.json"


@dataclass(frozen=True, slots=True)
class Child:
    """One supervised process and the URL that says it is healthy."""

    name: str
    pid: int
    url: str
    health_url: str
    # From /proc/PID/stat: tells our process from a later one that reused its PID.
    start_time: int | None = None


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return int(stat.read().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def is_ours(child: Child) -> bool:
    """The PID still names the process `up` started: same start time, or a claudescope command line."""
    if not alive(child.pid):
        return False
    if child.start_time is not None:
        return start_time(child.pid) == child.start_time
    try:  # a state file from before start times were recorded
        return b"claudescope" in Path(f"/proc/{child.pid}/cmdline").read_bytes()
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Whether ``pid`` names a live process (a zombie is not one)."""
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


def write_state(config: Config, children: Sequence[Child], *, supervisor: Child | None = None) -> None:
    """Record an ``up``'s children, and the foreground ``up`` itself when it stays to supervise them."""
    payload: dict[str, object] = {"children": [asdict(c) for c in children]}
    if supervisor is not None:
        payload["supervisor"] = asdict(supervisor)
    (config.data_dir / STATE_FILE).write_text(json.dumps(payload, indent=2), encoding="utf-8")


def remove_state(config: Config) -> None:
    """Forget the ``up`` of this data directory (it stopped)."""
    (config.data_dir / STATE_FILE).unlink(missing_ok=True)


def this_process() -> Child:
    """This foreground ``up``, as ``stop`` finds it in the state file."""
    return Child("up", os.getpid(), "", "", start_time(os.getpid()))


def read_state(config: Config) -> tuple[list[Child], Child | None]:
    """(the children, the foreground ``up``) the state file names; no children when there is no
    (readable) file, no ``up`` when it was detached."""
    try:
        payload = json.loads((config.data_dir / STATE_FILE).read_text(encoding="utf-8"))
        children = [Child(**c) for c in payload["children"]]
    except (OSError, ValueError, KeyError, TypeError):
        return [], None
    try:
        return children, Child(**payload["supervisor"])
    except (KeyError, TypeError):
        return children, None


def running_children(config: Config) -> bool:
    """Whether a process the state file names is still the one ``up`` started."""
    return any(is_ours(c) for c in read_state(config)[0])
