"""One alias table, every producer: real spans from each instrumentation -> the same calls row.

Each producer runs in a subprocess (instrumentors patch the SDK globally) against the bundled
fake API with known usage: 120 uncached input, 3000 cache read, 800 cache write (1h), 250 out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable, Usage
from tests.fixtures_collector import call_span, post_spans

HERE = Path(__file__).parent
PEERS_SITE = os.environ.get("PEERS_SITE") or ("/tmp/cs-peers" if Path("/tmp/cs-peers").is_dir() else "")
MODEL = "claude-sonnet-4-5-20250929"


@pytest.fixture(scope="module")
def emitted(fake_api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, Path]]:
    """Every producer's spans, emitted by parallel subprocesses: {producer: (rc, stderr, file)}."""
    tmp = tmp_path_factory.mktemp("peers")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_", "CLAUDESCOPE_"))}
    if PEERS_SITE:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PEERS_SITE, env.get("PYTHONPATH", "")) if p)
    procs = {}
    for producer in [*PRODUCERS, "stacked"]:
        argv = [sys.executable, str(HERE / "peer_emit.py"), producer, fake_api, str(tmp / f"{producer}.pb")]
        procs[producer] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    return {p: (proc.wait(120), proc.stderr.read() if proc.stderr else "", tmp / f"{p}.pb") for p, proc in procs.items()}


def _emit(producer: str, emitted: dict[str, tuple[int, str, Path]]) -> bytes:
    rc, stderr, out = emitted[producer]
    if rc != 0 and "ModuleNotFoundError" in stderr:
        pytest.skip(f"{producer} is not installed (see tests/requirements-peers.txt): {stderr.strip().splitlines()[-1]}")
    assert rc == 0, stderr
    return out.read_bytes()


def _post(url: str, body: bytes) -> None:
    r = httpx.post(url + "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and r.content == b"", r.content


def _price(w5m: int, w1h: int) -> str:
    usage = Usage(input_tokens=120, cache_read_tokens=3000, cache_write_5m_tokens=w5m, cache_write_1h_tokens=w1h, output_tokens=250)
    cost = PriceTable.load(PricingConfig()).price(MODEL, usage)
    assert cost is not None
    return str(cost.total_usd)


# producer -> (source, reports the 1h/5m split, has response id)
PRODUCERS = {
    "claudescope": ("claudescope", True, True),
    "anthropic-sdk": ("anthropic-sdk", True, True),
    "openllmetry": ("openllmetry", False, True),
    "otel-genai": ("otel-genai", False, True),
    # OpenInference: the split and the message id only inside output.value (the Message JSON)
    "openinference": ("openinference", True, True),
    "logfire": ("logfire", True, True),
}


@pytest.mark.peers
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_producer_normalised(producer: str, emitted, inproc) -> None:
    source, split, has_id = PRODUCERS[producer]
    _post(inproc.url, _emit(producer, emitted))
    rows = inproc.query("SELECT * FROM calls")
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["source"] == source
    assert row["operation"] == "chat" and row["status"] == "ok"
    assert row["request_model"] == "claude-sonnet-4-5" and row["response_model"] == MODEL
    assert row["input_tokens"] == 120, "uncached input must not include cache tokens"
    assert row["cache_read_tokens"] == 3000 and row["output_tokens"] == 250
    w5m, w1h = (0, 800) if split else (800, 0)  # no TTL split reported: counted as 5m writes
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (w5m, w1h)
    assert row["stop_reason"] == "max_tokens"
    assert row["max_tokens"] == 300
    assert row["cost_usd"] == _price(w5m, w1h)
    assert (row["response_id"] or "").startswith("msg_") == has_id
    attributes = row["attributes"] or ""
    assert "hello" not in attributes, "message content must not be stored"
    assert "sk-ant" not in attributes


def test_openlit_input_excludes_cache(inproc) -> None:
    """OpenLIT is not installable without changing versions: a span shaped like its source."""
    span = call_span(attributes={
        "claudescope.operation": None, "claudescope.usage.uncached_input_tokens": None,
        "gen_ai.system": "anthropic", "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 250,
        "gen_ai.usage.cache_read.input_tokens": 3000, "gen_ai.usage.cache_creation.input_tokens": 800,
        "gen_ai.response.model": MODEL, "anthropic.message.stop_reason": None,
        "gen_ai.response.finish_reasons": ["max_tokens"], "gen_ai.usage.cost": 0.01,
    })
    span["scope"] = "openlit.otel.tracing"
    assert post_spans(inproc.url, [span]).status_code == 200
    row = inproc.query("SELECT * FROM calls")[0]
    assert row["source"] == "openlit"
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_5m_tokens"]) == (120, 3000, 800)
    assert row["stop_reason"] == "max_tokens"
    assert Decimal(row["cost_usd"]) == Decimal(_price(800, 0))


@pytest.mark.peers
def test_stacked_producers_one_row(emitted, inproc) -> None:
    """claudescope + the SDK's own tracer + OpenLLMetry on one call: one calls row, claudescope's."""
    _post(inproc.url, _emit("stacked", emitted))
    stored = inproc.query("SELECT source, superseded FROM call_spans ORDER BY source")
    assert [r["source"] for r in stored] == ["anthropic-sdk", "claudescope", "openllmetry"]
    rows = inproc.query("SELECT source, input_tokens, cache_write_1h_tokens FROM calls")
    assert rows == [{"source": "claudescope", "input_tokens": 120, "cache_write_1h_tokens": 800}]


def test_stacked_order_independent(inproc) -> None:
    """The worse copy arriving first is superseded when the better one lands (separate batches)."""
    trace = "ab" * 16
    ours = call_span(trace_id=trace, span_id="1" * 16, response_id="msg_same", feature="mine")
    sdk = call_span(trace_id=trace, span_id="2" * 16, parent_span_id="1" * 16, response_id="msg_same", attributes={"claudescope.operation": None})
    sdk["scope"], sdk["name"] = "com.anthropic.sdk.python", "anthropic.messages.create"
    other_trace = call_span(response_id="msg_same", attributes={"claudescope.operation": None})
    other_trace["scope"] = "opentelemetry.instrumentation.anthropic"
    for span in (sdk, other_trace, ours):
        assert post_spans(inproc.url, [span]).status_code == 200
    assert inproc.query("SELECT source, feature FROM calls") == [{"source": "claudescope", "feature": "mine"}]
    # an error without response id: matched through the parent relation
    a = call_span(trace_id="cd" * 16, span_id="3" * 16, response_id=None, error_type="overloaded_error")
    b = call_span(trace_id="cd" * 16, span_id="4" * 16, parent_span_id="3" * 16, response_id=None, error_type="OverloadedError", attributes={"claudescope.operation": None})
    b["scope"], b["name"] = "com.anthropic.sdk.python", "anthropic.messages.create"
    assert post_spans(inproc.url, [b, a]).status_code == 200
    errors = inproc.query("SELECT source, error_type FROM calls WHERE status = 'error'")
    assert errors == [{"source": "claudescope", "error_type": "overloaded_error"}]
