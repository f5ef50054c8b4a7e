"""`claudescope demo`: the simulated day, its spans, and the real collector end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

from claudescope import semconv as sc
from claudescope.demo import SERVICE_NAME, run_demo
from claudescope.demo.scenario import UNKNOWN_MODEL, plan_day, request_params

END = datetime(2026, 11, 20, 18, 30, tzinfo=timezone.utc)


def _quiet() -> Console:
    return Console(file=open(os.devnull, "w"), force_terminal=False)  # noqa: SIM115


def test_plan_is_deterministic_and_shaped_like_a_day() -> None:
    plan = plan_day(3000, seed=7, end=END)
    assert plan == plan_day(3000, seed=7, end=END)
    assert plan.calls != plan_day(3000, seed=8, end=END).calls
    times = [c.at for c in plan.calls]
    assert times == sorted(times) and plan.start <= times[0] and times[-1] <= END
    hours = Counter(t.hour for t in times)
    assert hours[9] > 3 * hours[3]  # the morning burst towers over the night
    burst = [c for c in plan.calls if c.at.hour == 9 and c.at.minute < 30]
    scripts = Counter(c.script for c in burst if c.script)
    assert any("429" in s for s in scripts) and any("529" in s for s in scripts)
    assert {c.feature for c in plan.calls} == {"support_chat", "summarize", "code_review", "classify", "extract"}
    models = Counter(c.model for c in plan.calls)
    assert {"claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6", "claude-sonnet-4-5", UNKNOWN_MODEL} <= set(models)
    assert {c.kind for c in plan.calls} == {"create", "stream", "stream_helper", "count_tokens"}
    users = Counter(c.user_id for c in plan.calls)
    assert users.most_common(1)[0][1] > 10 * sorted(users.values())[len(users) // 2]  # Zipf: a heavy head
    v2 = [c for c in plan.calls if c.feature == "summarize" and c.prompt_version == "v2"]
    assert v2 and all(c.at >= plan.start + timedelta(hours=15) and c.max_tokens == 160 for c in v2)
    assert plan.batch is not None and plan.batch.at.hour == 2


@pytest.mark.parametrize("end_hm", [(9, 10), (9, 0), (8, 59), (23, 0)])
def test_every_day_has_its_morning_burst(end_hm: tuple[int, int]) -> None:
    end = END.replace(hour=end_hm[0], minute=end_hm[1])
    plan = plan_day(600, seed=1, end=end)
    rate_limited = [c for c in plan.calls if c.script and "429" in c.script]  # 429s happen only in the burst
    assert len(rate_limited) >= 5
    assert max(c.at for c in rate_limited) - min(c.at for c in rate_limited) <= timedelta(minutes=30)
    assert all(plan.start <= c.at <= end for c in plan.calls)


def test_request_params_cache_the_shared_prefix() -> None:
    plan = plan_day(400, seed=3, end=END)
    chats = [c for c in plan.calls if c.feature == "support_chat" and c.prompt_version == "v1"][:2]
    first, second = (request_params(c, 3) for c in chats)
    assert first["system"] == second["system"] and first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["messages"] != second["messages"]
    review = request_params(next(c for c in plan.calls if c.feature == "code_review"), 3)
    assert review["system"][0]["cache_control"]["ttl"] == "1h" and review["tools"]
    assert request_params(chats[0], 3) == first  # same call, same bytes


def test_small_day_spans_spread_over_the_last_24h() -> None:
    exporter = InMemorySpanExporter()
    started = datetime.now(timezone.utc)
    summary = run_demo(
        endpoint="http://unused", calls=80, seed=11, live_api_key=None, concurrency=4, console=_quiet(), exporter=exporter
    )
    spans = exporter.get_finished_spans()
    calls = [s for s in spans if s.attributes.get(sc.GEN_AI_OPERATION_NAME) in ("chat", "count_tokens")]
    assert summary.calls == 80 and summary.ok + sum(summary.errors.values()) == 80
    assert summary.batch_results >= 5 and summary.usage["output"] > 0
    assert len([s for s in calls if s.attributes.get(sc.CS_OPERATION) != "batch_result"]) == 80
    starts = [datetime.fromtimestamp(s.start_time / 1e9, timezone.utc) for s in calls]
    assert all(started - timedelta(hours=24, minutes=1) <= t <= started + timedelta(minutes=1) for t in starts)
    assert len({t.hour for t in starts}) >= 10  # a day, not the few seconds the run took
    assert max(starts) - min(starts) > timedelta(hours=12)
    assert {s.attributes.get(sc.CS_FEATURE) for s in calls} >= {"support_chat", "summarize", "classify"}
    assert len({s.attributes.get(sc.GEN_AI_REQUEST_MODEL) for s in calls}) >= 3
    assert all(s.attributes.get(sc.CS_USER_ID) for s in calls)
    assert all(s.resource.attributes["service.name"] == SERVICE_NAME for s in spans)
    chat_ms = sorted((s.end_time - s.start_time) / 1e6 for s in calls if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == "chat")
    assert chat_ms[len(chat_ms) // 2] > 300  # latencies stretched back to production scale
    for span in calls:  # attempt events moved along with their span
        assert all(span.start_time <= e.timestamp <= span.end_time + 1_000_000 for e in span.events)


def _wait_rows(collector: Any, expected: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = int(collector.query("SELECT count(*) AS n FROM calls")[0]["n"])
        if count >= expected:
            return count
        time.sleep(0.2)
    return count


def test_demo_into_real_collector(collector: Any) -> None:
    summary = run_demo(endpoint=collector.url, calls=150, seed=7, live_api_key=None, concurrency=6, console=_quiet())
    expected = summary.calls + summary.batch_results
    assert summary.spans_delivered >= expected and summary.spans_failed == 0
    assert _wait_rows(collector, expected) >= expected
    rows = collector.query(
        "SELECT count(DISTINCT feature) AS features, count(DISTINCT request_model) AS models, "
        "min(start_time) AS first, max(start_time) AS last, sum(retries) AS retries, "
        "count(*) FILTER (WHERE status = 'error') AS errors, "
        "count(*) FILTER (WHERE operation = 'count_tokens') AS counts, "
        "count(*) FILTER (WHERE service_tier = 'batch') AS batch_rows, "
        "count(*) FILTER (WHERE cache_read_tokens > 0) AS cache_reads, "
        "count(*) FILTER (WHERE cache_write_1h_tokens > 0) AS cache_writes_1h, "
        "count(*) FILTER (WHERE stop_reason = 'max_tokens') AS truncated FROM calls"
    )[0]
    assert rows["features"] == 5 and rows["models"] >= 5
    first = datetime.fromisoformat(rows["first"].replace("Z", "+00:00"))
    last = datetime.fromisoformat(rows["last"].replace("Z", "+00:00"))
    assert last - first > timedelta(hours=12) and last <= datetime.now(timezone.utc) + timedelta(minutes=1)
    assert int(rows["retries"]) > 0 and int(rows["counts"]) > 0
    assert int(rows["errors"]) == sum(summary.errors.values())
    assert int(rows["batch_rows"]) == summary.batch_results
    assert int(rows["cache_reads"]) > 0 and int(rows["cache_writes_1h"]) > 0 and int(rows["truncated"]) > 0
    unknown = collector.query(f"SELECT count(*) AS n, count(cost_usd) AS priced FROM calls WHERE request_model = '{UNKNOWN_MODEL}' AND operation = 'chat'")[0]
    assert int(unknown["n"]) > 0 and int(unknown["priced"]) == 0
    priced = collector.query("SELECT sum(cost_usd) AS usd FROM calls WHERE status = 'ok'")[0]
    assert float(priced["usd"]) > 0


def test_cli_demo_command(collector: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDESCOPE_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-m", "claudescope", "demo", "--endpoint", collector.url, "--calls", "40", "--seed", "3",
         "--concurrency", "4"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "claudescope demo" in done.stdout and "calls" in done.stdout
    assert _wait_rows(collector, 40) >= 40


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDESCOPE_", "OTEL_"))}
    return {**env, **extra}


def test_cli_demo_with_token_protected_collector(collector_factory: Any) -> None:
    running = collector_factory(token="s3cret-demo")
    command = [sys.executable, "-m", "claudescope", "demo", "--endpoint", running.url, "--calls", "20", "--concurrency", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env(CLAUDESCOPE_TOKEN="s3cret-demo"))
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stdout
    assert _wait_rows(running, 20) >= 20


def test_cli_demo_without_collector_fails_fast() -> None:
    from claudescope.fakeapi.server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "claudescope", "demo", "--endpoint", url, "--calls", "10"],
                          capture_output=True, text=True, timeout=60, env=_env())
    assert done.returncode == 1 and "no claudescope collector answers" in done.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("flag", ["--live"])
def test_cli_live_needs_a_key(flag: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDESCOPE_", "OTEL_"))}
    done = subprocess.run([sys.executable, "-m", "claudescope", "demo", flag], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and "ANTHROPIC_API_KEY" in done.stderr


def test_time_shift_moves_and_stretches_only_what_it_should() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from claudescope.demo.timeshift import SimulatedClock, TimeShiftExporter, TimeShiftProcessor

    clock = SimulatedClock()
    shift = TimeShiftProcessor(clock)
    sink = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(shift)
    provider.add_span_processor(SimpleSpanProcessor(TimeShiftExporter(sink, shift, stretch=100.0)))
    tracer = provider.get_tracer("t")
    when = datetime(2026, 11, 19, 9, 15, tzinfo=timezone.utc)
    with clock.at(when):
        chat = tracer.start_span("chat m", attributes={sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.01})
        time.sleep(0.02)
        chat.add_event(sc.CS_ATTEMPT_EVENT, {sc.CS_ATTEMPT_DURATION_MS: 20.0})
        chat.end()
        other = tracer.start_span("batch_create", attributes={sc.GEN_AI_OPERATION_NAME: "batch_create"})
        time.sleep(0.02)
        other.end()
    outside = tracer.start_span("chat n", attributes={sc.GEN_AI_OPERATION_NAME: "chat"})
    outside.end()
    by_name = {s.name: s for s in sink.get_finished_spans()}
    sim_ns = int(when.timestamp() * 1e9)
    moved = by_name["chat m"]
    assert moved.start_time == sim_ns
    assert 2.0 <= (moved.end_time - moved.start_time) / 1e9 < 10.0  # 20+ ms real, x100
    assert moved.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == pytest.approx(1.0)
    [event] = moved.events
    assert moved.start_time < event.timestamp <= moved.end_time
    assert event.attributes[sc.CS_ATTEMPT_DURATION_MS] == pytest.approx(2000.0)
    unstretched = by_name["batch_create"]
    assert unstretched.start_time == sim_ns and (unstretched.end_time - unstretched.start_time) / 1e9 < 1.0
    assert by_name["chat n"].start_time > sim_ns + 3600 * 10**9  # no simulated time: left alone


def test_live_mode_code_path_against_the_fake_api(fake_api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # --live uses the SDK's default base URL, which the SDK itself reads from ANTHROPIC_BASE_URL.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api)
    exporter = InMemorySpanExporter()
    summary = run_demo(endpoint="http://unused", calls=60, seed=2, live_api_key="sk-test", concurrency=4,
                       console=_quiet(), exporter=exporter)
    assert summary.mode == "live Anthropic API"
    assert summary.calls == 60 and summary.batch_results == 0  # no batch: real ones take hours
    assert summary.retries == 0 and not summary.errors  # no x-fake-* script was sent
    assert len(exporter.get_finished_spans()) == 60 + 1  # + the pre-flight count_tokens


def test_live_mode_fails_fast_without_an_api(monkeypatch: pytest.MonkeyPatch) -> None:
    from claudescope.fakeapi.server import free_port
    from claudescope.demo import DemoError

    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(DemoError, match="pre-flight"):
        run_demo(endpoint="http://unused", calls=50, seed=2, live_api_key="sk-test", concurrency=2,
                 console=_quiet(), exporter=InMemorySpanExporter())
    assert time.monotonic() - started < 20
