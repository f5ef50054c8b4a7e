"""Issue 12 over plain HTTP: the collector answers only its own Host names, refuses what a web
browser marks as cross-site, and takes only JSON on the query and admin API and only the two
OTLP types on the OTLP routes; legitimate clients (OTLP exporter, CLI, dashboard client) work.

Every collector is a real ``claudescope collector`` process on a free port (tests/fixtures_collector).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from claudescope.config import ConfigError, load_config
from claudescope.dashboard.client import QueryClient
from tests.fixtures_collector import RunningCollector, call_span, encode_spans, start_collector

ZERO_PRICES = {"pricing": {"overrides": {"claude-sonnet-4-5": {
    "input": "0", "output": "0", "cache_write_5m": "0", "cache_write_1h": "0", "cache_read": "0"}}}}
SPEND_SQL = "SELECT sum(cost_usd) AS spend, count(*) AS n FROM calls"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """A default collector (no token, loopback) holding three priced sonnet calls."""
    collector = start_collector(tmp_path_factory.mktemp("guard") / "data")
    try:
        spans = [call_span(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100) for _ in range(3)]
        assert collector.post_spans(spans).status_code == 200
        yield collector
    finally:
        collector.stop()


def _spend(collector: RunningCollector) -> tuple[Decimal, int]:
    row = collector.query(SPEND_SQL)[0]
    return Decimal(row["spend"]), int(row["n"])


def _host(collector: RunningCollector, name: str) -> dict[str, str]:
    return {"Host": f"{name}:{collector.port}"}


def _post_query(collector: RunningCollector, headers: dict[str, str], body: bytes | None = None) -> httpx.Response:
    content = body if body is not None else json.dumps({"sql": SPEND_SQL}).encode()
    return httpx.post(collector.url + "/api/v1/query", content=content, headers=headers, timeout=30)


# --- DNS rebinding: Host ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example"])
def test_foreign_host_gets_421_and_no_data_on_every_route(guarded: RunningCollector, name: str) -> None:
    host = _host(guarded, name)
    answers = {
        "query": _post_query(guarded, {**host, "Content-Type": "application/json"}),
        "metrics": httpx.get(guarded.url + "/metrics", headers=host),
        "admin tables": httpx.get(guarded.url + "/api/v1/admin/tables", headers=host),
        "admin snapshot": httpx.get(guarded.url + "/api/v1/admin/snapshot", headers=host),
        "reprice": httpx.post(guarded.url + "/api/v1/admin/reprice", json=ZERO_PRICES, headers=host),
        "traces": httpx.post(guarded.url + "/v1/traces", content=encode_spans([call_span()]),
                             headers={**host, "Content-Type": "application/x-protobuf"}),
    }
    assert {k: r.status_code for k, r in answers.items()} == {k: 421 for k in answers}
    for response in answers.values():
        assert "allowed_hosts" in response.text  # the reason says what to configure
        assert "claudescope_spend" not in response.text and "calls" not in response.text
    assert _spend(guarded)[1] == 3  # neither the span nor the reprice got through


def test_healthz_stays_open_to_any_host_and_says_only_ok(guarded: RunningCollector) -> None:
    r = httpx.get(guarded.url + "/healthz", headers=_host(guarded, "evil.example"))
    assert (r.status_code, r.text) == (200, "ok")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST.", "127.0.0.1:{port}",
                                  "localhost:{port}", "[::1]:{port}"])
def test_loopback_names_are_answered(guarded: RunningCollector, host: str) -> None:
    headers = {"Host": host.format(port=guarded.port), "Content-Type": "application/json"}
    assert _post_query(guarded, headers).status_code == 200
    assert httpx.get(guarded.url + "/metrics", headers=headers).status_code == 200


@pytest.mark.parametrize("host", ["", "evil.example:notaport", "user@127.0.0.1", "127.0.0.1/x"])
def test_malformed_host_is_refused(guarded: RunningCollector, host: str) -> None:
    headers = {"Host": host, "Content-Type": "application/json"}
    assert _post_query(guarded, headers).status_code == 421


@pytest.mark.parametrize("how", ["environment", "file"])
def test_allowed_hosts_adds_names(tmp_path: Path, how: str) -> None:
    config, env = None, None
    if how == "environment":
        env = {"CLAUDESCOPE_ALLOWED_HOSTS": "collector.internal, *.corp.example"}
    else:
        config = '[server]\nallowed_hosts = ["collector.internal", "*.corp.example"]\n'
    collector = start_collector(tmp_path / "data", config_toml=config, env=env)
    try:
        def status(name: str) -> int:
            return _post_query(collector, {**_host(collector, name), "Content-Type": "application/json"}).status_code

        assert [status(n) for n in ("collector.internal", "a.corp.example", "127.0.0.1")] == [200, 200, 200]
        assert [status(n) for n in ("evil.example", "corp.example.evil", "internal")] == [421, 421, 421]
    finally:
        collector.stop()


def test_a_named_bind_host_is_answered(tmp_path: Path) -> None:
    collector = start_collector(tmp_path / "data", config_toml='[server]\nhost = "localhost"\n')
    try:
        assert httpx.get(collector.url.replace("127.0.0.1", "localhost") + "/metrics").status_code == 200
        assert httpx.get(collector.url + "/metrics", headers=_host(collector, "other.example")).status_code == 421
    finally:
        collector.stop()


@pytest.mark.parametrize("value", ['["https://dash.example"]', '["dash.example:8501"]', '"a/b"', "5"])
def test_bad_allowed_hosts_is_a_config_error_naming_key_and_file(tmp_path: Path, value: str) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text(f"[server]\nallowed_hosts = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.key == "allowed_hosts" and str(path) in str(info.value)
    assert "host name" in info.value.problem  # says what is wanted, not just "unknown option"
    result = subprocess.run([sys.executable, "-m", "claudescope", "collector", "--config", str(path),
                             "--data", str(tmp_path / "d"), "--port", "0"], capture_output=True, text=True,
                            timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("CLAUDESCOPE_")})
    assert result.returncode == 2 and "allowed_hosts" in result.stderr and "Traceback" not in result.stderr


# --- cross-site requests: Sec-Fetch-Site, Origin ---------------------------------------------
@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_browser_cross_site_marks_get_403(guarded: RunningCollector, site: str) -> None:
    headers = {"Sec-Fetch-Site": site, "Content-Type": "application/json"}
    assert _post_query(guarded, headers).status_code == 403
    r = httpx.post(guarded.url + "/api/v1/admin/reprice", json=ZERO_PRICES, headers={"Sec-Fetch-Site": site})
    assert r.status_code == 403 and "cross-site" in r.json()["error"]
    assert httpx.get(guarded.url + "/metrics", headers={"Sec-Fetch-Site": site}).status_code == 403


@pytest.mark.parametrize("origin", ["http://evil.example:{port}", "null", "http://127.0.0.1:1",
                                    "http://localhost:{port}", "https://127.0.0.1:{port}.evil.example"])
def test_foreign_origin_gets_403(guarded: RunningCollector, origin: str) -> None:
    headers = {"Origin": origin.format(port=guarded.port), "Content-Type": "application/json"}
    assert _post_query(guarded, headers).status_code == 403
    spans = encode_spans([call_span()])
    r = httpx.post(guarded.url + "/v1/traces", content=spans, headers={**headers, "Content-Type": "application/x-protobuf"})
    assert r.status_code == 403


def test_same_origin_and_user_typed_requests_pass(guarded: RunningCollector) -> None:
    own = f"http://127.0.0.1:{guarded.port}"
    headers = {"Origin": own, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
    assert _post_query(guarded, headers).status_code == 200
    assert httpx.get(guarded.url + "/metrics", headers={"Sec-Fetch-Site": "none"}).status_code == 200


# --- content types ---------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_query_and_reprice_take_only_json(guarded: RunningCollector, content_type: str | None) -> None:
    before = _spend(guarded)
    headers = {"Content-Type": content_type} if content_type else {}
    query = _post_query(guarded, headers)
    reprice = httpx.post(guarded.url + "/api/v1/admin/reprice", content=json.dumps(ZERO_PRICES).encode(), headers=headers)
    assert (query.status_code, reprice.status_code) == (415, 415)
    assert "application/json" in query.json()["error"] and "application/json" in reprice.json()["error"]
    assert _spend(guarded) == before and before[0] > 0
    # ... and the ingest pricing was not swapped either: a new span is still priced
    span = call_span(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100)
    assert guarded.post_spans([span]).status_code == 200
    cost = guarded.query(f"SELECT cost_usd FROM calls WHERE span_id = '{span['span_id']}'")[0]["cost_usd"]
    assert Decimal(cost) == Decimal("0.0045")


def test_json_with_parameters_is_json(guarded: RunningCollector) -> None:
    assert _post_query(guarded, {"Content-Type": "Application/JSON; charset=utf-8"}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/v1/metrics"])
@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/protobuf", "text/plain", None])
def test_otlp_routes_take_only_the_two_otlp_types(guarded: RunningCollector, path: str, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    before = _spend(guarded)[1]
    r = httpx.post(guarded.url + path, content=encode_spans([call_span()]), headers=headers)
    assert r.status_code == 415
    assert _spend(guarded)[1] == before


# --- legitimate clients keep working ---------------------------------------------------------
def test_the_otel_sdk_exporter_still_exports(guarded: RunningCollector) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from claudescope import semconv

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    attributes = call_span(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100)["attributes"]
    with provider.get_tracer(semconv.INSTRUMENTATION_SCOPE).start_as_current_span("chat claude-sonnet-4-5") as span:
        span.set_attributes(attributes)
    provider.shutdown()
    # The stock exporter's own request: application/x-protobuf, Host 127.0.0.1:port, no Origin.
    result = OTLPSpanExporter(endpoint=guarded.url + "/v1/traces").export(memory.get_finished_spans())
    assert result == SpanExportResult.SUCCESS
    rows = guarded.query(f"SELECT cost_usd FROM calls WHERE response_id = '{attributes[semconv.GEN_AI_RESPONSE_ID]}'")
    assert [Decimal(r["cost_usd"]) for r in rows] == [Decimal("0.0045")]


def test_cli_and_dashboard_client_still_work(guarded: RunningCollector, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDESCOPE_")}
    sql = subprocess.run([sys.executable, "-m", "claudescope", "sql", "--api", guarded.url, "--format", "json",
                          "SELECT count(*) AS n FROM calls"], capture_output=True, text=True, timeout=60, env=env,
                         cwd=tmp_path)
    assert sql.returncode == 0, sql.stderr
    assert json.loads(sql.stdout)[0]["n"] >= 3
    reprice = subprocess.run([sys.executable, "-m", "claudescope", "reprice", "--api", guarded.url],
                             capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert reprice.returncode == 0, reprice.stderr
    tables = QueryClient.from_api(guarded.url, timeout_s=30).query("SELECT count(*) AS n FROM calls")
    assert tables[0].column("n").to_pylist()[0] >= 3


# --- compose: services reach the collector by service name -----------------------------------
@pytest.mark.parametrize("compose_file", ["docker-compose.yml", "docker-compose.scale.yml"])
def test_compose_collectors_answer_their_service_names(tmp_path: Path, compose_file: str) -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "compose" / compose_file).read_text())
    collectors = {name: svc for name, svc in doc["services"].items() if (svc.get("command") or [None])[0] == "collector"}
    assert collectors
    for name, service in collectors.items():
        env = {"CLAUDESCOPE_ALLOWED_HOSTS": service["environment"]["CLAUDESCOPE_ALLOWED_HOSTS"]}
        collector = start_collector(tmp_path / name / "data", env=env)
        try:
            headers = {**_host(collector, name), "Content-Type": "application/json"}
            assert _post_query(collector, headers).status_code == 200, name
            assert httpx.get(collector.url + "/api/v1/admin/tables", headers=_host(collector, name)).status_code == 200
            assert _post_query(collector, {**_host(collector, "evil.example"), "Content-Type": "application/json"}).status_code == 421
        finally:
            collector.stop()
