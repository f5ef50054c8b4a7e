"""The bundled fake Anthropic API, driven by the real anthropic SDK."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from claudescope.fakeapi.server import ServerThread
from claudescope.fakeapi.app import create_fake_api

MSGS = [{"role": "user", "content": "Summarise the quarterly report in three bullet points."}]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
LONG_SYSTEM = "You are a meticulous support agent for ACME. " * 150  # ~1700 tokens, above the cache minimum


def _create(client: anthropic.Anthropic, **kw: Any) -> Any:
    kw.setdefault("model", "claude-sonnet-4-6")
    kw.setdefault("max_tokens", 512)
    kw.setdefault("messages", MSGS)
    return client.messages.create(**kw)


# --- the ASGI server helper -------------------------------------------------------------


def test_server_thread_free_port_and_clean_stop() -> None:
    app = create_fake_api(latency_scale=0.0)
    with ServerThread(app) as one, ServerThread(app) as two:
        assert one.port != two.port and one.port > 0
        assert httpx.post(one.base_url + "/v1/messages/count_tokens", json={"model": "m", "messages": MSGS}).status_code == 200
        url = two.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/messages/batches", timeout=1)


# --- plain calls ---------------------------------------------------------------------------


def test_create_resolves_alias_and_sets_ids(anthropic_client: anthropic.Anthropic) -> None:
    raw = anthropic_client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=400, messages=MSGS)
    msg = raw.parse()
    assert msg.model == "claude-haiku-4-5-20251001"
    assert msg.id.startswith("msg_") and msg._request_id.startswith("req_")
    assert raw.headers["request-id"] == msg._request_id
    assert msg.usage.input_tokens > 5 and 1 <= msg.usage.output_tokens <= 400
    assert msg.usage.service_tier == "standard"
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert raw.retries_taken == 0
    second = _create(anthropic_client)
    assert second.id != msg.id


def test_same_request_same_seed_is_deterministic(fake_api_server: Any) -> None:
    urls = [fake_api_server(seed=5), fake_api_server(seed=5), fake_api_server(seed=6)]
    outs = []
    for url in urls:
        client = anthropic.Anthropic(base_url=url, api_key="test")
        msg = _create(client, max_tokens=4000)
        outs.append((msg.usage.output_tokens, msg.content[0].text))
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


def test_rate_limit_headers_count_down(anthropic_client: anthropic.Anthropic) -> None:
    first = anthropic_client.messages.with_raw_response.create(model="m", max_tokens=50, messages=MSGS)
    second = anthropic_client.messages.with_raw_response.create(model="m", max_tokens=50, messages=MSGS)
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        for part in ("limit", "remaining", "reset"):
            assert f"anthropic-ratelimit-{kind}-{part}" in first.headers
    assert int(second.headers["anthropic-ratelimit-requests-remaining"]) < int(
        first.headers["anthropic-ratelimit-requests-limit"]
    )
    assert first.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")


def test_enforced_rate_limit_answers_429_with_retry_after(fake_api_server: Any) -> None:
    url = fake_api_server(enforce_rate_limits=True, requests_per_minute=2)
    client = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
    _create(client)
    _create(client)
    with pytest.raises(anthropic.RateLimitError) as info:
        _create(client)
    assert float(info.value.response.headers["retry-after"]) > 0
    assert int(info.value.response.headers["anthropic-ratelimit-requests-remaining"]) == 0


def test_tool_use_when_tools_given(anthropic_client: anthropic.Anthropic) -> None:
    msg = _create(anthropic_client, tools=TOOLS, tool_choice={"type": "any"})
    assert msg.stop_reason == "tool_use"
    tool = [b for b in msg.content if b.type == "tool_use"][0]
    assert tool.name == "get_weather" and tool.input == {"city": "example"} and tool.id.startswith("toolu_")


def test_small_max_tokens_truncates(anthropic_client: anthropic.Anthropic) -> None:
    stops = {_create(anthropic_client, max_tokens=8, messages=[{"role": "user", "content": f"q{i}"}]).stop_reason for i in range(5)}
    assert stops == {"max_tokens"}


# --- control protocol ------------------------------------------------------------------------


def test_script_retries_visible_in_retries_taken(anthropic_client: anthropic.Anthropic) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model="m", max_tokens=50, messages=MSGS, extra_headers={"x-fake-script": "429,529,ok"}
    )
    assert raw.retries_taken == 2 and raw.status_code == 200


def test_script_last_item_repeats_and_errors_map(anthropic_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        _create(anthropic_client, extra_headers={"x-fake-script": "429"})
    body = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert info.value.response.headers["retry-after"] == "0.05"
    cases = {"529": anthropic.OverloadedError, "400": anthropic.BadRequestError, "404": anthropic.NotFoundError}
    for item, error in cases.items():
        with pytest.raises(error) as caught:
            anthropic_client.with_options(max_retries=0).messages.create(
                model="m", max_tokens=5, messages=MSGS, extra_headers={"x-fake-script": item}
            )
        assert caught.value.status_code == int(item)
    with pytest.raises(anthropic.InternalServerError) as err500:
        anthropic_client.with_options(max_retries=0).messages.create(
            model="m", max_tokens=5, messages=MSGS, extra_headers={"x-fake-script": "500"}
        )
    assert err500.value.type == "api_error"


def test_slow_item_sleeps(anthropic_client: anthropic.Anthropic) -> None:
    started = time.monotonic()
    _create(anthropic_client, extra_headers={"x-fake-script": "slow:150"})
    assert time.monotonic() - started >= 0.15


def test_usage_echo_and_usage_fields(anthropic_client: anthropic.Anthropic) -> None:
    headers = {
        "x-fake-usage": "input=120,cache_read=3000,cache_write_5m=0,cache_write_1h=800,output=250,web_search=1,web_fetch=0",
        "x-fake-stop": "refusal",
        "x-fake-model": "claude-opus-4-6-20260205",
        "x-fake-service-tier": "priority",
        "x-fake-inference-geo": "us",
        "x-fake-speed": "fast",
    }
    msg = _create(anthropic_client, model="claude-opus-4-6", extra_headers=headers)
    u = msg.usage
    assert (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens, u.output_tokens) == (120, 3000, 800, 250)
    assert (u.cache_creation.ephemeral_5m_input_tokens, u.cache_creation.ephemeral_1h_input_tokens) == (0, 800)
    assert u.server_tool_use.web_search_requests == 1 and u.server_tool_use.web_fetch_requests == 0
    assert (u.service_tier, u.inference_geo, u.speed) == ("priority", "us", "fast")
    assert msg.stop_reason == "refusal" and msg.model == "claude-opus-4-6-20260205"


def test_malformed_control_header_is_a_clear_400(anthropic_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="x-fake-script"):
        _create(anthropic_client, extra_headers={"x-fake-script": "bogus"})
    with pytest.raises(anthropic.BadRequestError, match="x-fake-usage"):
        _create(anthropic_client, extra_headers={"x-fake-usage": "tokens=3"})


def test_invalid_body_is_invalid_request_error(fake_api: str) -> None:
    answer = httpx.post(fake_api + "/v1/messages", json={"model": "m", "messages": MSGS})
    assert answer.status_code == 400
    assert answer.json()["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    assert answer.headers["request-id"] == answer.json()["request_id"]


# --- streaming ---------------------------------------------------------------------------------


def _raw_events(fake_api: str, headers: dict[str, str] | None = None, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    payload = {"model": "claude-sonnet-4-6", "max_tokens": 300, "messages": MSGS, "stream": True, **body}
    text = httpx.post(fake_api + "/v1/messages", json=payload, headers=headers or {}).text
    events = []
    for chunk in text.strip().split("\n\n"):
        name, data = chunk.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_stream_event_sequence(fake_api: str) -> None:
    events = _raw_events(
        fake_api, {"x-fake-usage": "input=10,cache_read=2000,cache_write_1h=300,output=42", "x-fake-stop": "end_turn"}
    )
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "content_block_delta" in names
    start = events[0][1]["message"]["usage"]
    assert start["output_tokens"] == 1 and start["cache_creation"]["ephemeral_1h_input_tokens"] == 300
    assert start["service_tier"] == "standard" and start["inference_geo"] and start["speed"]
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 42
    assert delta["usage"]["cache_read_input_tokens"] == 2000 and "service_tier" not in delta["usage"]


def test_stream_final_message_through_sdk(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=600, messages=MSGS, extra_headers={"x-fake-usage": "input=7,output=33"}
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[0].text == text and text
    assert final.usage.output_tokens == 33 and final.usage.input_tokens == 7
    assert final.model == "claude-sonnet-4-5-20250929"
    assert stream.request_id and stream.request_id.startswith("req_")


def test_stream_tool_use_input_json_delta(anthropic_client: anthropic.Anthropic, fake_api: str) -> None:
    events = _raw_events(fake_api, {"x-fake-stop": "tool_use"}, tools=TOOLS)
    assert any(e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta" for _, e in events)
    with anthropic_client.messages.stream(
        model="m", max_tokens=600, messages=MSGS, tools=TOOLS, extra_headers={"x-fake-stop": "tool_use"}
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b for b in final.content if b.type == "tool_use"][0].input == {"city": "example"}


def test_stream_sse_error_raises_api_status_error(anthropic_client: anthropic.Anthropic) -> None:
    stream = anthropic_client.messages.create(
        model="m", max_tokens=300, messages=MSGS, stream=True, extra_headers={"x-fake-script": "sse-error"}
    )
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for event in stream:
            seen.append(event.type)
    assert seen[0] == "message_start" and "message_delta" not in seen
    assert info.value.type == "overloaded_error"


def test_stream_cut_drops_connection(anthropic_client: anthropic.Anthropic) -> None:
    seen = []
    # A connection dropped mid-body surfaces from the SDK's stream as httpx2's protocol error.
    with pytest.raises(httpx2.RemoteProtocolError):
        stream = anthropic_client.messages.create(
            model="m", max_tokens=300, messages=MSGS, stream=True, extra_headers={"x-fake-script": "cut"}
        )
        for event in stream:
            seen.append(event.type)
    assert seen[0] == "message_start" and "message_delta" not in seen and "message_stop" not in seen


def test_non_stream_cut_is_retried_by_sdk(anthropic_client: anthropic.Anthropic) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model="m", max_tokens=30, messages=MSGS, extra_headers={"x-fake-script": "cut,ok"}
    )
    assert raw.retries_taken == 1 and raw.parse().usage.output_tokens >= 1


def test_stream_ttft_header(anthropic_client: anthropic.Anthropic) -> None:
    started = time.monotonic()
    stream = anthropic_client.messages.create(
        model="m", max_tokens=300, messages=MSGS, stream=True, extra_headers={"x-fake-ttft-ms": "120", "x-fake-latency-ms": "200"}
    )
    first = next(iter(stream))
    ttft = time.monotonic() - started
    for _ in stream:
        pass
    assert first.type == "message_start" and ttft >= 0.12
    assert time.monotonic() - started >= 0.2


# --- async, count_tokens, beta -----------------------------------------------------------------


def test_async_client_create_and_stream(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    async def run() -> tuple[Any, Any]:
        msg = await async_anthropic_client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=MSGS, extra_headers={"x-fake-script": "529,ok"}
        )
        async with async_anthropic_client.messages.stream(model="m", max_tokens=100, messages=MSGS) as stream:
            final = await stream.get_final_message()
        await async_anthropic_client.close()
        return msg, final

    msg, final = asyncio.run(run())
    assert msg.model == "claude-haiku-4-5-20251001" and final.usage.output_tokens >= 1


def test_count_tokens(anthropic_client: anthropic.Anthropic) -> None:
    short = anthropic_client.messages.count_tokens(model="m", messages=MSGS).input_tokens
    long = anthropic_client.messages.count_tokens(model="m", messages=MSGS, system=LONG_SYSTEM).input_tokens
    assert 5 < short < long and long > 1500
    echoed = anthropic_client.messages.count_tokens(model="m", messages=MSGS, extra_headers={"x-fake-usage": "input=77"})
    assert echoed.input_tokens == 77


def test_beta_messages(anthropic_client: anthropic.Anthropic, fake_api: str) -> None:
    msg = anthropic_client.beta.messages.create(model="claude-opus-4-6", max_tokens=50, messages=MSGS, betas=["context-1m-2025-08-07"])
    assert type(msg).__name__ == "BetaMessage" and msg.usage.input_tokens > 0
    with anthropic_client.beta.messages.stream(model="m", max_tokens=50, messages=MSGS, betas=["x"]) as stream:
        assert stream.get_final_message().usage.output_tokens >= 1
    assert anthropic_client.beta.messages.count_tokens(model="m", messages=MSGS).input_tokens > 0


# --- prompt caching ----------------------------------------------------------------------------


def test_cache_write_then_read(fake_api_server: Any) -> None:
    client = anthropic.Anthropic(base_url=fake_api_server(), api_key="test")
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    first = _create(client, system=system).usage
    second = _create(client, system=system, messages=[{"role": "user", "content": "another question"}]).usage
    assert first.cache_creation.ephemeral_5m_input_tokens > 1024 and first.cache_read_input_tokens == 0
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    other_model = _create(client, system=system, model="claude-haiku-4-5").usage
    assert other_model.cache_read_input_tokens == 0  # caches are per model


def test_cache_ttl_1h_and_expiry_with_clock(fake_api_server: Any) -> None:
    now = [1000.0]
    client = anthropic.Anthropic(base_url=fake_api_server(clock=lambda: now[0]), api_key="test")
    short = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    hour = [{"type": "text", "text": LONG_SYSTEM + " v2", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert _create(client, system=short).usage.cache_creation.ephemeral_5m_input_tokens > 0
    assert _create(client, system=hour).usage.cache_creation.ephemeral_1h_input_tokens > 0
    now[0] += 600  # 10 minutes later: the 5m entry expired, the 1h one did not
    assert _create(client, system=short).usage.cache_read_input_tokens == 0
    assert _create(client, system=hour).usage.cache_read_input_tokens > 0


def test_short_prefix_is_not_cached(anthropic_client: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    usage = _create(anthropic_client, system=system).usage
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0


# --- batches -----------------------------------------------------------------------------------


def _wait_ended(client: anthropic.Anthropic, batch_id: str) -> Any:
    for _ in range(100):
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.02)
    raise AssertionError("batch did not end")


def test_batch_lifecycle(anthropic_client: anthropic.Anthropic) -> None:
    params = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": MSGS}
    batch = anthropic_client.messages.batches.create(
        requests=[{"custom_id": "a", "params": params}, {"custom_id": "b", "params": {**params, "max_tokens": 0}}]
    )
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 2
    ended = _wait_ended(anthropic_client, batch.id)
    assert ended.request_counts.succeeded == 1 and ended.request_counts.errored == 1 and ended.results_url
    results = {r.custom_id: r.result for r in anthropic_client.messages.batches.results(batch.id)}
    assert results["a"].type == "succeeded" and results["a"].message.usage.service_tier == "batch"
    assert results["a"].message.model == "claude-haiku-4-5-20251001"
    assert results["b"].type == "errored"
    assert batch.id in [b.id for b in anthropic_client.messages.batches.list(limit=100)]
    deleted = anthropic_client.messages.batches.delete(batch.id)
    assert deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.messages.batches.retrieve(batch.id)


def test_batch_cancel_and_beta_batches(anthropic_client: anthropic.Anthropic) -> None:
    params = {"model": "m", "max_tokens": 100, "messages": MSGS}
    batch = anthropic_client.messages.batches.create(requests=[{"custom_id": "x", "params": params}])
    canceling = anthropic_client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at
    ended = _wait_ended(anthropic_client, batch.id)
    assert ended.request_counts.canceled == 1
    beta = anthropic_client.beta.messages.batches.create(requests=[{"custom_id": "y", "params": params}])
    for _ in range(100):
        if anthropic_client.beta.messages.batches.retrieve(beta.id).processing_status == "ended":
            break
        time.sleep(0.02)
    [line] = list(anthropic_client.beta.messages.batches.results(beta.id))
    assert line.custom_id == "y" and line.result.message.usage.service_tier == "batch"


def test_batch_list_pagination(fake_api_server: Any) -> None:
    client = anthropic.Anthropic(base_url=fake_api_server(), api_key="test")
    params = {"model": "m", "max_tokens": 10, "messages": MSGS}
    ids = [client.messages.batches.create(requests=[{"custom_id": "c", "params": params}]).id for _ in range(5)]
    page = client.messages.batches.list(limit=2)
    assert len(page.data) == 2 and page.has_more
    assert sorted(b.id for b in client.messages.batches.list(limit=2)) == sorted(ids)  # auto-pagination


# --- simulation hints used by the demo ---------------------------------------------------------


def test_output_median_header_shapes_answer_length(anthropic_client: anthropic.Anthropic) -> None:
    def outputs(median: str) -> list[int]:
        return [
            _create(
                anthropic_client, max_tokens=4000, messages=[{"role": "user", "content": f"item {i}"}],
                extra_headers={"x-fake-output-median": median},
            ).usage.output_tokens
            for i in range(12)
        ]

    short, long = sorted(outputs("4")), sorted(outputs("800"))
    assert short[6] < 20 < 200 < long[6]


def test_now_header_ages_the_cache_in_simulated_time(fake_api_server: Any) -> None:
    client = anthropic.Anthropic(base_url=fake_api_server(), api_key="test")
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]

    def at(seconds: float) -> Any:
        return _create(client, system=system, extra_headers={"x-fake-now": str(seconds)}).usage

    assert at(1_000).cache_creation_input_tokens > 0
    assert at(1_200).cache_read_input_tokens > 0  # 200 s later: still cached
    assert at(1_450).cache_read_input_tokens > 0  # the read refreshed the 5 minutes
    assert at(1_800).cache_creation_input_tokens > 0  # 350 s of silence: expired, written again


def test_script_applies_to_batches_and_non_stream_sse_error(anthropic_client: anthropic.Anthropic) -> None:
    params = {"model": "m", "max_tokens": 10, "messages": MSGS}
    raw = anthropic_client.messages.batches.with_raw_response.create(
        requests=[{"custom_id": "z", "params": params}], extra_headers={"x-fake-script": "529,ok"}
    )
    assert raw.retries_taken == 1 and raw.parse().id.startswith("msgbatch_")
    with pytest.raises(anthropic.OverloadedError):
        anthropic_client.with_options(max_retries=0).messages.create(
            model="m", max_tokens=5, messages=MSGS, extra_headers={"x-fake-script": "sse-error"}
        )


def test_unknown_route_uses_the_error_envelope(fake_api: str) -> None:
    answer = httpx.get(fake_api + "/v1/models/nope")
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found_error"
    assert answer.json()["request_id"].startswith("req_")


def test_standalone_entry_point_prints_its_url() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "claudescope.fakeapi", "--latency-scale", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        client = anthropic.Anthropic(base_url=url, api_key="test")
        assert client.messages.count_tokens(model="m", messages=MSGS).input_tokens > 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- thinking, web search, request parameters, limits ------------------------------------------


def test_extended_thinking_and_web_search(anthropic_client: anthropic.Anthropic) -> None:
    kwargs: dict[str, Any] = {
        "model": "claude-opus-4-6", "max_tokens": 8000, "messages": MSGS,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
    }
    plain = anthropic_client.messages.create(**kwargs)
    with anthropic_client.messages.stream(**kwargs) as stream:
        streamed = stream.get_final_message()
    for msg in (plain, streamed):
        kinds = [b.type for b in msg.content]
        assert kinds[0] == "thinking" and msg.content[0].signature and kinds[-1] == "text"
        details = msg.usage.output_tokens_details
        assert 0 < details.thinking_tokens <= min(2000, msg.usage.output_tokens)
        searches = msg.usage.server_tool_use.web_search_requests
        assert kinds.count("server_tool_use") == kinds.count("web_search_tool_result") == searches <= 3
    echoed = anthropic_client.messages.create(**kwargs, extra_headers={"x-fake-usage": "input=5,output=900,web_search=2"})
    assert echoed.usage.server_tool_use.web_search_requests == 2
    assert [b.type for b in echoed.content].count("server_tool_use") == 2
    assert echoed.usage.output_tokens_details.thinking_tokens <= 900


def test_request_inference_geo_and_speed_are_reported(anthropic_client: anthropic.Anthropic) -> None:
    msg = anthropic_client.messages.create(
        model="claude-opus-4-6", max_tokens=50, messages=MSGS, inference_geo="us", speed="fast"
    )
    assert (msg.usage.inference_geo, msg.usage.speed, msg.usage.service_tier) == ("us", "fast", "standard")


def test_prompt_over_the_context_window_is_rejected(anthropic_client: anthropic.Anthropic) -> None:
    huge = [{"role": "user", "content": "x" * 900_000}]  # ~225K tokens
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=huge)
    assert anthropic_client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=huge).usage.input_tokens > 200_000
