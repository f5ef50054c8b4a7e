"""``claudescope run -- python app.py``: run a program with its Claude calls instrumented.

Works without the OpenTelemetry distro: a private directory holding a ``sitecustomize``
module is put first on the child's PYTHONPATH. Python imports ``sitecustomize`` at startup,
ours calls ``instrument()`` and ``configure()`` (which only adds an exporter when the program
sets up no tracing of its own), then hands over to any ``sitecustomize`` the program's
environment already had. The child gets the environment it would have had otherwise, plus
PYTHONPATH and the two ``CLAUDESCOPE_RUN_*`` variables read by that hook.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ENDPOINT_VAR = "CLAUDESCOPE_RUN_ENDPOINT"
SERVICE_VAR = "CLAUDESCOPE_RUN_SERVICE_NAME"
HOOK_DIR_VAR = "CLAUDESCOPE_RUN_HOOK_DIR"

_SITECUSTOMIZE = '''\
"""Written by `claudescope run`: instrument the anthropic SDK, then chain to the next sitecustomize."""
import os
import sys


def _claudescope_start():
    try:
        import claudescope.instrument as cs

        cs.instrument()
        token = os.environ.get("CLAUDESCOPE_TOKEN")
        headers = {{"Authorization": "Bearer " + token}} if token else None
        cs.configure(endpoint=os.environ["{endpoint}"], service_name=os.environ.get("{service}") or None,
                     headers=headers)
    except Exception as exc:  # the program must run even if instrumentation cannot
        print(f"claudescope: instrumentation disabled: {{exc!r}}", file=sys.stderr)


def _claudescope_chain():
    import importlib.machinery
    import importlib.util

    here = os.environ.get("{hook_dir}", "")
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_claudescope_start()
_claudescope_chain()
'''


def run_instrumented(argv: list[str], *, endpoint: str, service_name: str | None, env: Mapping[str, str]) -> int:
    """Run ``argv`` as a child process with the anthropic SDK instrumented; return its exit code.

    Args:
        argv: the program and its arguments, e.g. ``["python", "app.py"]``.
        endpoint: the collector's base URL (OTLP/HTTP).
        service_name: resource ``service.name``; default OTEL_SERVICE_NAME, else the script's name.
        env: the environment to start from (the CLI passes os.environ).
    """
    if not argv:
        print("claudescope run: no program given (usage: claudescope run -- python app.py)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="claudescope-run-") as hook_dir:
        hook = os.path.realpath(hook_dir)
        Path(hook, "sitecustomize.py").write_text(
            _SITECUSTOMIZE.format(endpoint=ENDPOINT_VAR, service=SERVICE_VAR, hook_dir=HOOK_DIR_VAR), encoding="utf-8")
        child = dict(env)
        child["PYTHONPATH"] = os.pathsep.join(p for p in (hook, env.get("PYTHONPATH", "")) if p)
        child[ENDPOINT_VAR] = endpoint
        child[HOOK_DIR_VAR] = hook
        name = service_name or env.get("OTEL_SERVICE_NAME") or _default_service_name(argv)
        child[SERVICE_VAR] = name
        try:
            return subprocess.run(argv, env=child, check=False).returncode
        except FileNotFoundError:
            print(f"claudescope run: command not found: {argv[0]}", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130


def _default_service_name(argv: list[str]) -> str:
    """The script's name for ``python app.py`` / ``python -m pkg``, else the program's."""
    program = Path(argv[0]).name
    if program.startswith("python") and len(argv) > 1:
        if argv[1] == "-m" and len(argv) > 2:
            return argv[2]
        if not argv[1].startswith("-"):
            return Path(argv[1]).stem
    return program
