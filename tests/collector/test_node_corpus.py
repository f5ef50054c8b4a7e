"""The Node.js conformance corpus (issue 14) against a real collector.

The fixtures under tests/fixtures/producers/node/ are what the real npm producers exported
(``regenerate.py`` rebuilds them): the SDK's own tracer (1.x, 0.x), OpenLLMetry-JS,
OpenInference-JS, alone and stacked, over OTLP/HTTP protobuf, OTLP/HTTP JSON and OTLP/gRPC.
``manifest.json`` holds, per call, what the fake Anthropic API answered on the wire.

``test_corpus_complete`` checks the corpus itself. The collector tests post every fixture to a
real ``claudescope collector`` process and compare the ``calls`` rows with the manifest; the row
checks hold each row to the producer model of issue 14 (collector/producers.py, docs/producers.md).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from claudescope.fakeapi.server import free_port
from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable, Usage
from tests.fixtures_collector import RunningCollector

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "producers" / "node"
MANIFEST: dict[str, Any] = json.loads((CORPUS / "manifest.json").read_text())
RUNS: list[dict[str, Any]] = MANIFEST["runs"]
RUN_IDS = [f"{run['combo']}.{run['protocol']}" for run in RUNS]
CALL_NAMES = ["plain", "cache", "max_tokens", "stream_helper", "stream_create", "retry_529", "count_tokens"]
PROTOCOLS = {"http-proto": "application/x-protobuf", "http-json": "application/json", "grpc": "application/grpc"}
SDK, OI, LL = "anthropic-sdk-js", "openinference-js", "openllmetry-js"
APP_SCOPE = "node-corpus-app"  # the application's span around each call: never a calls row
# What a source name must contain to name each producer (as the Python ones are named).
SOURCE_WORDS = {SDK: "sdk", OI: "openinference", LL: "openllmetry"}



def decode(run: dict[str, Any]) -> ExportTraceServiceRequest:
    """A fixture as an ExportTraceServiceRequest (OTLP/JSON ids are hex: protobuf JSON wants base64)."""
    body = (CORPUS / run["fixture"]).read_bytes()
    if run["protocol"] != "http-json":
        return ExportTraceServiceRequest.FromString(body)
    document = json.loads(body)
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(document, ExportTraceServiceRequest())


def spans_by_scope(request: ExportTraceServiceRequest) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            out.setdefault(ss.scope.name, []).extend(ss.spans)
    return out


def int_attr(span: Any, *keys: str) -> int | None:
    for kv in span.attributes:
        if kv.key in keys:
            return int(kv.value.int_value)
    return None


def test_corpus_complete() -> None:
    """Every combination over every protocol has its fixture, which matches its manifest entry."""
    combos = {run["combo"] for run in RUNS}
    assert {(c, p) for c in combos for p in PROTOCOLS} == {(r["combo"], r["protocol"]) for r in RUNS}
    on_disk = {p.name for p in CORPUS.iterdir() if p.suffix in (".bin", ".json")} - {"package.json", "package-lock.json", "manifest.json"}
    assert on_disk == {run["fixture"] for run in RUNS}, "fixtures without a manifest entry, or the reverse"
    pinned = json.loads((CORPUS / "package.json").read_text())["dependencies"]
    assert all(re.fullmatch(r"(npm:@?[\w./-]+@)?\d+\.\d+\.\d+", v) for v in pinned.values()), f"not exact versions: {pinned}"
    assert set(MANIFEST["packages"]) == set(pinned)
    for run in RUNS:
        assert run["content_type"] == PROTOCOLS[run["protocol"]]
        scopes = spans_by_scope(decode(run))
        assert sorted(scopes) == run["scopes"], run["fixture"]
        calls = run["calls"]
        assert [c["name"] for c in calls] == CALL_NAMES, run["fixture"]
        for call in calls:
            assert call["retries"] == len(call["statuses"]) - 1 and call["statuses"][-1] == 200
            assert call["request_id"].startswith("req_")
            assert call["operation"] == "count_tokens" or call["response_id"].startswith("msg_")
        assert [c["statuses"] for c in calls if c["name"] == "retry_529"] == [[529, 200]]
        # The fixture and the manifest come from the same run: the outputs the fake answered are
        # the outputs every producer reported, and the SDK's spans carry the request ids.
        outputs = sorted(c["output_tokens"] for c in calls if c["operation"] == "chat")
        for scope, spans in scopes.items():
            if scope == APP_SCOPE:
                continue
            seen = sorted(v for s in spans if (v := int_attr(s, "gen_ai.usage.output_tokens", "llm.token_count.completion")) is not None)
            assert seen == outputs, (run["fixture"], scope)
        for span in scopes.get("com.anthropic.sdk.typescript", []):
            request_id = next(kv.value.string_value for kv in span.attributes if kv.key == "anthropic.request.id")
            assert request_id in {c["request_id"] for c in calls}, run["fixture"]


def start_collector_with_grpc(data_dir: Path) -> tuple[RunningCollector, int]:
    """``claudescope collector`` on free HTTP and gRPC ports, as a user starts it."""
    data_dir.mkdir(parents=True)
    port, grpc_port = free_port(), free_port()
    argv = [sys.executable, "-m", "claudescope", "collector", "--data", str(data_dir), "--port", str(port), "--grpc-port", str(grpc_port), "--no-alerts"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}
    log_path = data_dir.parent / "collector.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(argv, cwd=str(data_dir.parent), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    running = RunningCollector(proc, f"http://127.0.0.1:{port}", port, data_dir, None, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, running.log()
        try:
            if httpx.get(running.url + "/healthz", timeout=1).status_code == 200:
                return running, grpc_port
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    running.kill()
    raise TimeoutError(running.log())


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCollector, dict[str, Any]]]:
    """One collector holding the whole corpus; {run id: the collector's answer to its export}."""
    running, grpc_port = start_collector_with_grpc(tmp_path_factory.mktemp("node-corpus") / "data")
    answers: dict[str, Any] = {}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            for run_id, run in zip(RUN_IDS, RUNS, strict=True):
                answers[run_id] = post(running, stub, run)
        yield running, answers
    finally:
        running.stop()


def post(running: RunningCollector, stub: Any, run: dict[str, Any]) -> Any:
    """Send one fixture as its producer sent it: gRPC Export, or POST with its content type."""
    body = (CORPUS / run["fixture"]).read_bytes()
    if run["protocol"] == "grpc":
        response = stub.Export(ExportTraceServiceRequest.FromString(body), timeout=30)
        return ("grpc", response.partial_success.rejected_spans, response.partial_success.error_message)
    r = httpx.post(running.url + "/v1/traces", content=body, headers={"Content-Type": run["content_type"]}, timeout=30)
    if r.status_code != 200:
        return (r.status_code, r.text)
    answer = ExportTraceServiceResponse()
    if r.content and run["protocol"] == "http-json":
        json_format.Parse(r.content, answer)
    elif r.content:
        answer.ParseFromString(r.content)
    return (200, answer.partial_success.rejected_spans, answer.partial_success.error_message)


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
def test_collector_accepts_fixture(run: dict[str, Any], loaded: tuple[RunningCollector, dict[str, Any]]) -> None:
    """Every producer's export is taken whole: a success with no span rejected."""
    answer = loaded[1][f"{run['combo']}.{run['protocol']}"]
    assert answer in (("grpc", 0, ""), (200, 0, "")), answer


def expected_calls(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls that some producer of the run traces: count_tokens only the SDK's tracer does."""
    return [c for c in run["calls"] if c["operation"] == "chat" or SDK in run["producers"]]


def split_known(run: dict[str, Any], call: dict[str, Any]) -> bool:
    """Whether a producer of the run says how cache writes split into 5m and 1h."""
    # OpenInference has the split only in output.value, the Message JSON of a non-stream call.
    return SDK in run["producers"] or (OI in run["producers"] and not call["stream"])


def price(model: str, call: dict[str, Any], w5m: int, w1h: int) -> Decimal:
    usage = Usage(input_tokens=call["input_tokens"], cache_read_tokens=call["cache_read_tokens"], cache_write_5m_tokens=w5m, cache_write_1h_tokens=w1h, output_tokens=call["output_tokens"])
    cost = PriceTable.load(PricingConfig()).price(model, usage)
    assert cost is not None, model
    return cost.total_usd


def row_problems(run: dict[str, Any], call: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """What is wrong with ``row`` as the calls row of ``call``; empty when it is right."""
    producers, sdk = run["producers"], SDK in run["producers"]
    want: dict[str, Any] = {
        "operation": call["operation"], "request_model": call["request_model"], "status": "ok",
        "input_tokens": call["input_tokens"], "cache_read_tokens": call["cache_read_tokens"], "output_tokens": call["output_tokens"],
        "max_tokens": call["max_tokens"],
    }
    if call["operation"] == "chat":
        want["response_model"] = call["response_model"]
    if sdk:
        want.update(response_id=call["response_id"], request_id=call["request_id"], retries=call["retries"])
    if sdk or OI in producers:
        want.update(stop_reason=call["stop_reason"], stream=call["stream"])
    problems = [f"{k}: {row.get(k)!r} != {v!r}" for k, v in want.items() if row.get(k) != v]
    # Facts no producer of the run gives may be unknown (NULL), never wrong.
    for key in ("stop_reason", "stream", "response_id", "request_id"):
        if key not in want and row.get(key) not in (None, call[key]):
            problems.append(f"{key}: {row.get(key)!r} is neither {call[key]!r} nor NULL")
    if not sdk and row.get("retries") not in (None, 0, call["retries"]):
        problems.append(f"retries: {row.get('retries')!r}")
    words = [SOURCE_WORDS[p] for p in producers]
    if not row.get("source") or row["source"] == "otel" or not any(w in row["source"] for w in words):
        problems.append(f"source {row.get('source')!r} names none of {producers}")
    problems += cost_problems(run, call, row)
    return problems


def cost_problems(run: dict[str, Any], call: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """Tokens by write class and cost: exact when the split is known, bounded and marked when not."""
    w5m, w1h = call["cache_write_5m_tokens"], call["cache_write_1h_tokens"]
    got_5m, got_1h = row.get("cache_write_5m_tokens"), row.get("cache_write_1h_tokens")
    cost = Decimal(row["cost_usd"]) if row.get("cost_usd") is not None else None
    if call["operation"] == "count_tokens":
        return [] if cost == 0 and (got_5m, got_1h) == (0, 0) else [f"count_tokens: cost {cost}, writes {got_5m}/{got_1h}"]
    if split_known(run, call) or w5m + w1h == 0:
        exact = price(call["response_model"], call, w5m, w1h)
        problems = [] if (got_5m, got_1h) == (w5m, w1h) else [f"writes {got_5m}/{got_1h} != {w5m}/{w1h}"]
        return problems + ([] if cost == exact else [f"cost {cost} != {exact}"])
    low, high = sorted((price(call["response_model"], call, w5m + w1h, 0), price(call["response_model"], call, 0, w5m + w1h)))
    problems = [] if (got_5m or 0) + (got_1h or 0) == w5m + w1h else [f"writes {got_5m}+{got_1h} != {w5m + w1h}"]
    if cost is None or not low <= cost <= high:
        problems.append(f"estimated cost {cost} outside [{low}, {high}]")
    attributes = json.loads(row.get("attributes") or "{}")
    if attributes.get("claudescope.cache_split_estimated") is not True:
        problems.append("cost from an unknown 5m/1h split is not marked as estimated")
    bounds = [attributes.get(f"claudescope.cost_{end}_usd") for end in ("low", "high")]
    if None in bounds or [Decimal(b) for b in bounds] != [low, high]:
        problems.append(f"stated bounds {bounds} != {[low, high]}")
    return problems


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
def test_one_exact_row_per_call(run: dict[str, Any], loaded: tuple[RunningCollector, dict[str, Any]]) -> None:
    """Each call is one row, with the fake's exact tokens by class, stop reason, ids and cost."""
    running = loaded[0]
    trace_ids = sorted({span.trace_id.hex() for spans in spans_by_scope(decode(run)).values() for span in spans})
    listed = ", ".join(f"'{t}'" for t in trace_ids)
    rows = running.query(f"SELECT * FROM calls WHERE trace_id IN ({listed}) ORDER BY start_time")
    calls = expected_calls(run)
    assert len(rows) == len(calls), [(r["source"], r["operation"], r["output_tokens"]) for r in rows]
    # The calls were made one after the other: rows in start order are the calls in order.
    problems = {call["name"]: p for call, row in zip(calls, rows, strict=True) if (p := row_problems(run, call, row))}
    assert not problems, json.dumps(problems, indent=1)
