"""instrument/uninstrument, coexistence with the SDK's own tracing and OpenLLMetry, configure(),
``claudescope run`` and the opentelemetry-instrument entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest

import claudescope.instrument as cs
from claudescope import semconv as sc
from claudescope.instrument.launcher import run_instrumented

from .conftest import HELLO, MODEL, Otel, make_otel
from .otlp_sink import otlp_sink

REPO = Path(__file__).resolve().parents[2]


def test_idempotent_and_clean_uninstrument(fake_api: str) -> None:
    o = make_otel()
    cs.instrument(tracer_provider=o.tracer_provider, strict=True)
    cs.instrument(tracer_provider=o.tracer_provider, strict=True)
    client = anthropic.Anthropic(base_url=fake_api, api_key="k")
    assert client.middleware == ()  # attempts are seen without adding a middleware
    client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, extra_headers={"x-fake-script": "529,ok"})
    assert len(o.spans()) == 1 and len(o.spans()[0].events) == 2
    cs.uninstrument()
    client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert len(o.spans()) == 1
    assert not hasattr(anthropic._base_client.SyncAPIClient.request, "__wrapped__")
    cs.instrument(tracer_provider=o.tracer_provider, strict=True)
    try:
        assert client.copy().middleware == ()
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, extra_headers={"x-fake-script": "529,ok"})
        assert len(o.spans()) == 2 and len(o.spans()[1].events) == 2
    finally:
        cs.uninstrument()


def test_client_built_before_instrument_still_traced(fake_api: str) -> None:
    early = anthropic.Anthropic(base_url=fake_api, api_key="k", open_telemetry=False)
    o = make_otel()
    cs.instrument(tracer_provider=o.tracer_provider, strict=True)
    try:
        message = early.messages.create(model=MODEL, max_tokens=10, messages=HELLO,
                                        extra_headers={"x-fake-usage": "input=5,output=2"})
    finally:
        cs.uninstrument()
    span = o.one()
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == message.id
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert [e.name for e in span.events] == [sc.CS_ATTEMPT_EVENT]  # per-attempt events too


def test_sdk_tracing_off_by_default_and_stacked_when_asked(otel: Otel, fake_api: str) -> None:
    quiet = anthropic.Anthropic(base_url=fake_api, api_key="k")
    assert quiet.open_telemetry["traces"]["enabled"] is False
    loud = anthropic.Anthropic(base_url=fake_api, api_key="k", open_telemetry={"tracer_provider": otel.tracer_provider})
    message = loud.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    every = otel.exporter.get_finished_spans()
    ours = [s for s in every if s.instrumentation_scope.name == sc.INSTRUMENTATION_SCOPE]
    sdk = [s for s in every if s.instrumentation_scope.name.startswith(sc.ANTHROPIC_SDK_SCOPE)]
    assert len(ours) == 1 and len(sdk) == 1
    # Both carry the response id (the collector's dedupe key) and the SDK's is our child.
    assert ours[0].attributes[sc.GEN_AI_RESPONSE_ID] == sdk[0].attributes[sc.GEN_AI_RESPONSE_ID] == message.id
    assert sdk[0].parent.span_id == ours[0].context.span_id


@pytest.mark.peers
def test_stacked_with_openllmetry(otel: Otel, client: anthropic.Anthropic) -> None:
    peer = pytest.importorskip("opentelemetry.instrumentation.anthropic")
    instrumentor = peer.AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider)
    try:
        message = client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
        with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
            final = stream.get_final_message()
    finally:
        instrumentor.uninstrument()
    ours = otel.spans()
    assert [s.attributes[sc.GEN_AI_RESPONSE_ID] for s in ours] == [message.id, final.id]
    assert len(otel.exporter.get_finished_spans()) >= 2


def test_configure_keeps_the_apps_provider_and_creates_one_otherwise(fake_api: str) -> None:
    with otlp_sink() as sink:
        script = textwrap.dedent(f"""
            import anthropic, claudescope.instrument as cs
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            cs.instrument()
            provider = cs.configure(endpoint={sink.url!r}, service_name="svc-a")
            assert cs.configure(endpoint="http://127.0.0.1:9") is provider
            assert isinstance(provider, TracerProvider)
            client = anthropic.Anthropic(base_url={fake_api!r}, api_key="k")
            client.messages.create(model={MODEL!r}, max_tokens=10, messages={HELLO!r})
            assert cs.flush()
        """)
        result = subprocess.run([sys.executable, "-c", script], env=_child_env(), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert [(r["service.name"], name) for r, name, _ in sink.spans] == [("svc-a", f"chat {MODEL}")]


def test_collector_down_does_not_slow_calls(fake_api: str) -> None:
    script = textwrap.dedent(f"""
        import time, anthropic, claudescope.instrument as cs
        cs.instrument()
        cs.configure(endpoint="http://127.0.0.1:9", timeout_s=0.5)
        client = anthropic.Anthropic(base_url={fake_api!r}, api_key="k")
        client.messages.create(model={MODEL!r}, max_tokens=10, messages={HELLO!r})
        began = time.perf_counter()
        for _ in range(20):
            client.messages.create(model={MODEL!r}, max_tokens=10, messages={HELLO!r})
        print((time.perf_counter() - began) / 20)
    """)
    result = subprocess.run([sys.executable, "-c", script], env=_child_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip()) < 0.1


def test_claudescope_run_launcher(tmp_path: Path, fake_api: str) -> None:
    app = tmp_path / "myapp.py"
    app.write_text(textwrap.dedent(f"""
        import anthropic, sys
        client = anthropic.Anthropic(base_url={fake_api!r}, api_key="k")
        client.messages.create(model={MODEL!r}, max_tokens=10, messages={HELLO!r})
        sys.exit(3)
    """))
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['USER_SITECUSTOMIZE_RAN'] = '1'\n")
    app_check = tmp_path / "check.py"
    app_check.write_text("import os, sys\nsys.exit(0 if os.environ.get('USER_SITECUSTOMIZE_RAN') else 1)\n")
    env = {**_child_env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    with otlp_sink() as sink:
        code = run_instrumented([sys.executable, str(app)], endpoint=sink.url, service_name=None, env=env)
        chained = run_instrumented([sys.executable, str(app_check)], endpoint=sink.url, service_name=None, env=env)
        deadline = time.time() + 5
        while not sink.spans and time.time() < deadline:
            time.sleep(0.05)
    assert code == 3 and chained == 0
    assert [(r["service.name"], name) for r, name, _ in sink.spans] == [("myapp", f"chat {MODEL}")]
    assert run_instrumented(["definitely-not-a-program-xyz"], endpoint=sink.url, service_name=None, env=env) == 127


@pytest.mark.parametrize("disabled", [False, True])
def test_opentelemetry_instrument_entry_point(tmp_path: Path, disabled: bool) -> None:
    script = tmp_path / "probe.py"
    script.write_text("import anthropic._base_client as b\nprint(hasattr(b.SyncAPIClient.request, '__wrapped__'))\n")
    env = {**_child_env(), "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    if disabled:
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "claudescope"
    result = subprocess.run(["opentelemetry-instrument", sys.executable, str(script)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(not disabled)


def _child_env() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_", "CLAUDESCOPE_"))}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def test_cli_run_command(tmp_path: Path, fake_api: str) -> None:
    app = tmp_path / "cliapp.py"
    app.write_text(textwrap.dedent(f"""
        import anthropic
        anthropic.Anthropic(base_url={fake_api!r}, api_key="k").messages.create(
            model={MODEL!r}, max_tokens=10, messages={HELLO!r})
    """))
    with otlp_sink() as sink:
        result = subprocess.run([sys.executable, "-m", "claudescope", "run", "--endpoint", sink.url, "--service-name",
                                 "cli-svc", "--", sys.executable, str(app)], env=_child_env(), cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        deadline = time.time() + 5
        while not sink.spans and time.time() < deadline:
            time.sleep(0.05)
    assert result.returncode == 0, result.stderr
    assert [(r["service.name"], name) for r, name, _ in sink.spans] == [("cli-svc", f"chat {MODEL}")]


def test_fallback_attempts_middleware(fake_api: str) -> None:
    """On an SDK without ``_attempt_request`` the public middleware reports the attempts."""
    from opentelemetry.instrumentation.utils import unwrap

    from claudescope.instrument._attempts import middleware_class

    o = make_otel()
    cs.instrument(tracer_provider=o.tracer_provider, strict=True)
    try:
        unwrap(anthropic._base_client.SyncAPIClient, "_attempt_request")  # as if the SDK lacked it
        client = anthropic.Anthropic(base_url=fake_api, api_key="k", middleware=[middleware_class()()])
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, extra_headers={"x-fake-script": "529,ok"})
    finally:
        cs.uninstrument()
    span = o.one()
    assert [e.attributes[sc.CS_ATTEMPT_STATUS] for e in span.events] == [529, 200]
    assert span.events[0].attributes[sc.CS_ATTEMPT_ERROR_TYPE] == "overloaded_error"
    assert span.attributes[sc.HTTP_REQUEST_RESEND_COUNT] == 1
