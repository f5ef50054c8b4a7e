"""`opentelemetry-instrument` without a distro exports nothing: claudescope says so, once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

WARNING = "claudescope: opentelemetry-instrument found no OpenTelemetry configurator"
_PROBE = textwrap.dedent("""
    import anthropic._base_client as b
    from opentelemetry import trace
    print(type(trace.get_tracer_provider()).__name__)
    print(hasattr(b.SyncAPIClient.request, '__wrapped__'))
""")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_", "CLAUDESCOPE_"))}
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra)
    return env


def _run(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "probe.py"
    script.write_text(_PROBE)
    return subprocess.run([*argv, sys.executable, str(script)] if argv else [sys.executable, str(script)],
                          env=_env(**env), capture_output=True, text=True, timeout=90, cwd=tmp_path)


def test_warns_once_when_no_configurator_is_installed(tmp_path: Path) -> None:
    if any(True for _ in entry_points(group="opentelemetry_configurator")):
        pytest.skip("an OpenTelemetry configurator (distro) is installed here")
    result = _run(["opentelemetry-instrument"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ProxyTracerProvider", "True"]  # instrumented, exporting nowhere
    lines = [line for line in result.stderr.splitlines() if WARNING in line]
    assert len(lines) == 1 and "opentelemetry-distro" in lines[0], result.stderr


def test_no_warning_when_a_configurator_sets_up_tracing(tmp_path: Path) -> None:
    # A minimal configurator package registered through its entry point, as a distro does.
    site = tmp_path / "site"
    dist = site / "tiny_configurator-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-configurator\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[opentelemetry_configurator]\ntiny = tiny_configurator:Configurator\n")
    (site / "tiny_configurator.py").write_text(textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        class Configurator:
            def configure(self, **kwargs):
                trace.set_tracer_provider(TracerProvider())
    """))
    result = _run(["opentelemetry-instrument"], tmp_path, PYTHONPATH=str(site))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TracerProvider", "True"]  # the configurator ran
    assert WARNING not in result.stderr


def test_no_warning_when_the_app_instruments_itself(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text("import claudescope.instrument as cs\ncs.instrument()\nprint('ok')\n")
    result = subprocess.run([sys.executable, str(script)], env=_env(), capture_output=True, text=True, timeout=90)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert WARNING not in result.stderr
