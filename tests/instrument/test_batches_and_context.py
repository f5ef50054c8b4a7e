"""Message Batches (each succeeded result is a priced call span) and attribution scopes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
from opentelemetry import baggage

import claudescope.instrument as cs
from claudescope import semconv as sc

from .conftest import HELLO, MODEL, Otel


def _requests(n: int) -> list[dict[str, Any]]:
    return [{"custom_id": f"row-{i}", "params": {"model": MODEL, "max_tokens": 64, "messages": HELLO}} for i in range(n)]


def _wait_ended(client: anthropic.Anthropic, batch_id: str) -> None:
    for _ in range(100):
        if client.messages.batches.retrieve(batch_id).processing_status == "ended":
            return
        time.sleep(0.05)
    raise AssertionError("batch never ended")


def test_batch_results_become_call_spans(otel: Otel, client: anthropic.Anthropic) -> None:
    with cs.attributes(feature="nightly"):
        batch = client.messages.batches.create(requests=_requests(3))
        _wait_ended(client, batch.id)
        results = list(client.messages.batches.results(batch.id))
    spans = otel.spans()
    ops = [s.attributes[sc.CS_OPERATION] for s in spans]
    assert ops[0] == "batch_create" and spans[0].attributes[sc.CS_BATCH_ID] == batch.id
    assert "batch_retrieve" in ops and "batch_results" in ops
    per_result = [s for s in spans if s.attributes[sc.CS_OPERATION] == "batch_result"]
    assert len(per_result) == 3
    by_custom = {s.attributes[sc.CS_BATCH_CUSTOM_ID]: s for s in per_result}
    for result in results:
        span = by_custom[result.custom_id]
        message = result.result.message
        assert span.attributes[sc.GEN_AI_RESPONSE_ID] == message.id
        assert span.attributes[sc.ANTHROPIC_RESPONSE_SERVICE_TIER] == "batch"
        assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == message.usage.output_tokens
        assert span.attributes[sc.CS_UNCACHED_INPUT_TOKENS] == message.usage.input_tokens
        assert span.attributes[sc.CS_BATCH_ID] == batch.id
        assert span.attributes[sc.CS_FEATURE] == "nightly"
        assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    results_call = next(s for s in spans if s.attributes[sc.CS_OPERATION] == "batch_results")
    assert all(s.parent.span_id == results_call.context.span_id for s in per_result)


def test_async_batch_results(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def go() -> int:
        async with aclient:
            batch = await aclient.messages.batches.create(requests=_requests(2))
            for _ in range(100):
                if (await aclient.messages.batches.retrieve(batch.id)).processing_status == "ended":
                    break
                await asyncio.sleep(0.05)
            return len([r async for r in await aclient.messages.batches.results(batch.id)])

    assert asyncio.run(go()) == 2
    assert len([s for s in otel.spans() if s.attributes[sc.CS_OPERATION] == "batch_result"]) == 2


def test_attributes_nest_innermost_wins_and_beat_metadata(otel: Otel, client: anthropic.Anthropic) -> None:
    with cs.attributes(user_id="outer", feature="support_chat", team="core"):
        with cs.attributes(user_id="inner", prompt_version="v2.1") as scope:
            assert baggage.get_baggage("claudescope.user_id") == "inner"
            assert dict(scope) == {"user_id": "inner", "feature": "support_chat", "team": "core", "prompt_version": "v2.1"}
            client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, metadata={"user_id": "from-metadata"})
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, metadata={"user_id": "from-metadata"})
    client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    inner, outer, meta, bare = (s.attributes for s in otel.spans())
    assert inner[sc.CS_USER_ID] == "inner" and inner[sc.USER_ID] == "inner"
    assert inner[sc.CS_FEATURE] == "support_chat" and inner[sc.CS_PROMPT_VERSION] == "v2.1"
    assert inner[sc.CS_EXTRA_PREFIX + "team"] == "core"
    assert outer[sc.CS_USER_ID] == "outer" and sc.CS_PROMPT_VERSION not in outer
    assert meta[sc.CS_USER_ID] == "from-metadata"
    assert sc.CS_USER_ID not in bare and sc.CS_FEATURE not in bare


def test_attributes_isolated_between_async_tasks(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def one(user: str) -> str:
        with cs.attributes(user_id=user):
            await asyncio.sleep(0.01)
            message = await aclient.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
            return message.id

    async def go() -> list[str]:
        async with aclient:
            return list(await asyncio.gather(*(one(f"user-{i}") for i in range(5))))

    ids = asyncio.run(go())
    users = {s.attributes[sc.GEN_AI_RESPONSE_ID]: s.attributes[sc.CS_USER_ID] for s in otel.spans()}
    assert [users[i] for i in ids] == [f"user-{i}" for i in range(5)]


def test_cache_prefix_fingerprint(otel: Otel, client: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "You are a support agent. " * 200, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    for question in ("Where is my order?", "Can I get a refund?"):
        client.messages.create(model=MODEL, max_tokens=20, system=system,
                               messages=[{"role": "user", "content": question}])
    client.messages.create(model=MODEL, max_tokens=20, system="Different instructions.", messages=HELLO)
    first, second, other = (s.attributes for s in otel.spans())
    assert first[sc.CS_PREFIX_HASH] == second[sc.CS_PREFIX_HASH] != other[sc.CS_PREFIX_HASH]
    assert first[sc.CS_PREFIX_HAS_BREAKPOINT] is True and first[sc.CS_CACHE_TTL] == "1h"
    assert 1000 < first[sc.CS_PREFIX_TOKENS] < 2000
    assert other[sc.CS_PREFIX_HAS_BREAKPOINT] is False and sc.CS_CACHE_TTL not in other
    assert "support agent" not in str(first.values())
