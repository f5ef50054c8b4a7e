"""The fake's billing ledger records exactly what the SDK received, and nothing that failed."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import anthropic
import httpx
import pytest

from claudescope.fakeapi.ledger import api_key_id

from tests.fakeapi.conftest import APP_KEY, MSGS, now_header

LONG_SYSTEM = [{"type": "text", "text": "You are a meticulous support agent. " * 200,
                "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
DAY = datetime(2026, 11, 30, 15, 45, 12, tzinfo=timezone.utc)


def _expect(entry: dict[str, Any], usage: Any) -> None:
    """The ledger entry carries the SDK's usage, class by class."""
    creation = usage.cache_creation
    assert entry["uncached_input_tokens"] == usage.input_tokens
    assert entry["cache_read_input_tokens"] == (usage.cache_read_input_tokens or 0)
    assert entry["cache_write_5m_tokens"] == (creation.ephemeral_5m_input_tokens if creation else 0)
    assert entry["cache_write_1h_tokens"] == (creation.ephemeral_1h_input_tokens if creation else 0)
    assert entry["output_tokens"] == usage.output_tokens
    assert entry["web_search_requests"] == (usage.server_tool_use.web_search_requests if usage.server_tool_use else 0)
    assert entry["service_tier"] == usage.service_tier and entry["inference_geo"] == usage.inference_geo
    assert entry["speed"] == usage.speed


def test_json_and_streams_are_billed_as_the_sdk_saw_them(fake: Any) -> None:
    api = fake()
    exact = api.call(headers={**now_header(DAY), "x-fake-workspace": "wrkspc_01A",
                              "x-fake-usage": "input=120,cache_read=3000,cache_write_5m=40,cache_write_1h=800,"
                                              "output=250,web_search=2", "x-fake-inference-geo": "us"})
    cached = [api.call(system=LONG_SYSTEM, headers=now_header(DAY)) for _ in range(2)]  # a write, then a read
    with api.client() as client:
        usage: Any = None
        for event in client.messages.create(model="claude-opus-4-6", max_tokens=300, messages=MSGS, stream=True):
            if event.type == "message_start":
                usage = event.message.usage
            elif event.type == "message_delta":
                usage.output_tokens = event.usage.output_tokens
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=300, messages=MSGS) as stream:
            final = stream.get_final_message()
    ledger = api.ledger()
    assert len(ledger) == 5
    for entry, sdk in zip(ledger, [exact.usage, cached[0].usage, cached[1].usage, usage, final.usage]):
        _expect(entry, sdk)
    assert cached[0].usage.cache_creation.ephemeral_1h_input_tokens > 0 and cached[1].usage.cache_read_input_tokens > 0
    assert [e["model"] for e in ledger] == [exact.model, cached[0].model, cached[1].model, "claude-opus-4-6", final.model]
    assert ledger[0]["model"] == "claude-sonnet-4-6" and ledger[4]["model"] == "claude-haiku-4-5-20251001"
    assert ledger[0]["at"] == "2026-11-30T15:45:12Z" and ledger[0]["workspace_id"] == "wrkspc_01A"
    assert ledger[1]["workspace_id"] is None  # the default workspace
    stamped = datetime.fromisoformat(ledger[4]["at"].replace("Z", "+00:00"))  # no x-fake-now: the wall clock
    assert abs((datetime.now(timezone.utc) - stamped).total_seconds()) < 30
    assert all(e["context_window"] == "0-200k" for e in ledger)


def test_batch_results_billed_on_the_batch_tier_when_it_ends(fake: Any) -> None:
    api = fake(batch_seconds=0.3)
    requests = [{"custom_id": f"r{n}", "params": {"model": "claude-haiku-4-5", "max_tokens": 200,
                                                  "messages": [{"role": "user", "content": f"Summarise item {n}."}]}}
                for n in range(3)]
    requests.append({"custom_id": "bad", "params": {"model": "claude-haiku-4-5", "messages": MSGS}})  # errored
    with api.client() as client:
        created = client.messages.batches.create(requests=requests, extra_headers={**now_header(DAY), "x-fake-workspace": "wrkspc_B"})
        assert api.ledger() == []  # in progress: nothing billed yet
        while client.messages.batches.retrieve(created.id).processing_status != "ended":
            time.sleep(0.05)
        results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
    ledger = api.ledger()
    assert len(ledger) == 3 and {e["source"] for e in ledger} == {"batch"}
    succeeded = [results[f"r{n}"].message for n in range(3)]
    for entry, message in zip(ledger, succeeded):
        _expect(entry, message.usage)
        assert entry["service_tier"] == "batch" and entry["model"] == message.model
        assert entry["at"] == "2026-11-30T15:45:12Z" and entry["workspace_id"] == "wrkspc_B"
    assert len(api.ledger()) == 3  # billed once, however often it is read


@pytest.mark.parametrize("script", ["429", "529", "500", "400", "404", "spend_limit"])
def test_error_answers_are_not_billed(fake: Any, script: str) -> None:
    api = fake()
    with pytest.raises(anthropic.APIStatusError):
        api.call(headers={"x-fake-script": script})
    assert api.ledger() == []


def test_failed_midway_unbilled_and_bookkeeping_free(fake: Any) -> None:
    api = fake(batch_seconds=0.3)
    with api.client() as client:
        with pytest.raises(anthropic.APIStatusError):  # the SSE error event
            list(client.messages.create(model="claude-sonnet-4-6", max_tokens=200, messages=MSGS, stream=True,
                                        extra_headers={"x-fake-script": "sse-error"}))
        with pytest.raises(Exception):  # the stream is dropped before message_delta
            list(client.messages.create(model="claude-sonnet-4-6", max_tokens=200, messages=MSGS, stream=True,
                                        extra_headers={"x-fake-script": "cut"}))
        with pytest.raises(Exception):  # the JSON body is cut in half
            client.messages.create(model="claude-sonnet-4-6", max_tokens=200, messages=MSGS, extra_headers={"x-fake-script": "cut"})
        client.messages.count_tokens(model="claude-sonnet-4-6", messages=MSGS)
        client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=MSGS, extra_headers={"x-fake-billing": "off"})
        batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 50, "messages": MSGS}}])
        client.messages.batches.cancel(batch.id)
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            time.sleep(0.05)
    invalid = httpx.post(api.url + "/v1/messages", json={"model": "claude-sonnet-4-6", "messages": MSGS},
                         headers={"x-api-key": APP_KEY})
    assert invalid.status_code == 400
    bad_header = httpx.post(api.url + "/v1/messages", headers={"x-fake-billing": "maybe"},
                            json={"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": MSGS})
    assert bad_header.status_code == 400 and "x-fake-billing" in bad_header.text
    assert api.ledger() == []
    with api.client(max_retries=2) as client:
        retried = client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS,
                                         extra_headers={"x-fake-script": "429,529,ok"})
    ledger = api.ledger()
    assert len(ledger) == 1  # three attempts, one answer, one bill
    _expect(ledger[0], retried.usage)


def test_keys_become_stable_ids_never_stored(fake: Any) -> None:
    api = fake()
    api.call(key=APP_KEY)
    api.call(key=APP_KEY)
    api.call(key="sk-ant-api03-another-service")
    ids = [e["api_key_id"] for e in api.ledger()]
    assert ids[0] == ids[1] == api_key_id(APP_KEY) and ids[2] != ids[0]
    assert all(i.startswith("apikey_") for i in ids)
    text = json.dumps(api.ledger())
    assert APP_KEY not in text and "another-service" not in text and "sk-ant" not in text


def test_long_prompt_is_in_the_long_context_band(fake: Any) -> None:
    api = fake()
    api.call(headers={"x-fake-usage": "input=150000,cache_read=50001,output=10"})
    api.call(headers={"x-fake-usage": "input=150000,cache_read=50000,output=10"})
    assert [e["context_window"] for e in api.ledger()] == ["200k-1M", "0-200k"]


def test_concurrent_answers_all_billed(fake: Any) -> None:
    import asyncio

    api = fake()

    async def burst() -> list[Any]:
        async with anthropic.AsyncAnthropic(base_url=api.url, api_key=APP_KEY, max_retries=0) as client:
            return await asyncio.gather(*(
                client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": f"q{n}"}])
                for n in range(40)))

    answers = asyncio.run(burst())
    ledger = api.ledger()
    assert len(ledger) == 40
    assert sum(e["output_tokens"] for e in ledger) == sum(a.usage.output_tokens for a in answers)
