"""How the demo makes each planned call through the real SDK, attributed with claudescope.

Every call runs inside ``claudescope.instrument.attributes(user_id, feature, prompt_version)``;
API errors are counted, never raised: the demo keeps going as an application would.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from claudescope.demo.scenario import PlannedBatch, PlannedCall, request_params

__all__ = ["Outcome", "run_batch", "run_call", "warm_up"]

BATCH_POLL_S = 0.05


@dataclass
class Outcome:
    """What one planned call (or the batch) did."""

    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    usage: Counter[str] = field(default_factory=Counter)

    def add_usage(self, usage: Any) -> None:
        """Accumulate an SDK ``Usage`` (or a stream's final usage)."""
        if usage is None:
            return
        self.usage["input"] += usage.input_tokens or 0
        self.usage["output"] += usage.output_tokens or 0
        self.usage["cache_read"] += getattr(usage, "cache_read_input_tokens", 0) or 0
        self.usage["cache_write"] += getattr(usage, "cache_creation_input_tokens", 0) or 0


def run_call(call: PlannedCall, params: dict[str, Any], client: Any, headers: dict[str, str]) -> Outcome:
    """Make one planned call; errors are recorded in the outcome."""
    import anthropic

    import claudescope.instrument as cs

    outcome = Outcome()
    try:
        with cs.attributes(user_id=call.user_id, feature=call.feature, prompt_version=call.prompt_version):
            _KINDS[call.kind](client, params, headers, outcome)
        outcome.ok = 1
    except anthropic.APIStatusError as exc:
        outcome.errors[exc.type or f"http_{exc.status_code}"] += 1
        outcome.retries += _planned_retries(call.script)
    except anthropic.APIConnectionError:
        outcome.errors["connection_error"] += 1
    except Exception as exc:  # noqa: BLE001 - e.g. a dropped stream; the day goes on
        outcome.errors[type(exc).__name__] += 1
    return outcome


def _planned_retries(script: str | None) -> int:
    # A call that failed used every retry its script allowed (max_retries=2), or none for a 400.
    if not script or script in ("400", "404", "sse-error"):
        return 0
    return min(2, len(script.split(",")) - 1)


def _create(client: Any, params: dict[str, Any], headers: dict[str, str], outcome: Outcome) -> None:
    raw = client.messages.with_raw_response.create(**params, extra_headers=headers)
    outcome.retries += raw.retries_taken
    outcome.add_usage(raw.parse().usage)


def _stream(client: Any, params: dict[str, Any], headers: dict[str, str], outcome: Outcome) -> None:
    raw = client.messages.with_raw_response.create(**params, stream=True, extra_headers=headers)
    outcome.retries += raw.retries_taken
    usage: Any = None
    for event in raw.parse():
        if event.type == "message_start":
            usage = event.message.usage
        elif event.type == "message_delta" and usage is not None:
            usage.output_tokens = event.usage.output_tokens
    outcome.add_usage(usage)


def _stream_helper(client: Any, params: dict[str, Any], headers: dict[str, str], outcome: Outcome) -> None:
    with client.messages.stream(**params, extra_headers=headers) as stream:
        for _ in stream.text_stream:
            pass
        outcome.add_usage(stream.get_final_message().usage)
    outcome.retries += _planned_retries(headers.get("x-fake-script"))


def _count_tokens(client: Any, params: dict[str, Any], headers: dict[str, str], outcome: Outcome) -> None:
    client.messages.count_tokens(**params, extra_headers=headers)


_KINDS = {"create": _create, "stream": _stream, "stream_helper": _stream_helper, "count_tokens": _count_tokens}


def warm_up(base_url: str) -> None:
    """One uninstrumented call of each kind, so first-call costs (model schemas, imports,
    connection set-up) do not land on the first simulated hour's latencies. They are not
    application traffic: ``x-fake-billing: off`` keeps them off the fake's bill."""
    import anthropic

    with anthropic.Anthropic(base_url=base_url, api_key="warm-up", max_retries=0,
                             default_headers={"x-fake-billing": "off"}) as client:
        params: dict[str, Any] = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "warm-up"}]}
        client.messages.count_tokens(**params)
        client.messages.create(**params, max_tokens=8)
        with client.messages.stream(**params, max_tokens=8) as stream:
            stream.get_final_message()


def run_batch(batch: PlannedBatch, seed: int, client: Any, live: bool, timeout_s: float) -> Outcome:
    """The nightly summarization backfill as one Message Batch: create, poll, read results.

    On the fake, the create carries the batch's simulated time (``x-fake-now``): the fake bills
    the results then, the moment claudescope dates them (they are read at that simulated time).
    """
    import anthropic

    import claudescope.instrument as cs

    outcome = Outcome()
    requests = []
    for n in range(batch.size):
        call = PlannedCall(index=100_000 + n, at=batch.at, feature="summarize", kind="create", model=batch.model,
                           user_id="batch-backfill", prompt_version="v1", max_tokens=1024, input_chars=6_000)
        requests.append({"custom_id": f"backfill-{n:04d}", "params": request_params(call, seed)})
    try:
        with cs.attributes(user_id="batch-backfill", feature="summarize", prompt_version="v1"):
            headers = {} if live else {"x-fake-now": f"{batch.at.timestamp():.3f}"}
            created = client.messages.batches.create(requests=requests, extra_headers=headers)
            deadline = time.monotonic() + timeout_s
            while client.messages.batches.retrieve(created.id).processing_status != "ended":
                if time.monotonic() > deadline:
                    outcome.errors["batch_timeout"] += 1
                    return outcome
                time.sleep(BATCH_POLL_S)
            for line in client.messages.batches.results(created.id):
                if line.result.type == "succeeded":
                    outcome.ok += 1
                    outcome.usage["batch_results"] += 1
                    outcome.add_usage(line.result.message.usage)
    except anthropic.APIError as exc:
        outcome.errors[getattr(exc, "type", None) or "batch_error"] += 1
    return outcome
