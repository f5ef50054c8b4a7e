"""An honest untraced service for ``claudescope demo --untraced-calls N``.

N extra calls made with a plain ``anthropic.Anthropic`` client after the demo has removed its
instrumentation: the fake API answers and bills them (its ledger, hence the Admin API's
reports, count them) while claudescope never sees them, as with a service that was never
instrumented. They are spread evenly over the simulated day (``x-fake-now``), alternate
between two priced models, and use their own API key, so the usage report's ``api_key_id``
tells them apart.
"""

from __future__ import annotations

from typing import Any

from claudescope.demo.calls import Outcome
from claudescope.demo.scenario import DayPlan

__all__ = ["UNTRACED_API_KEY", "UNTRACED_MODELS", "run_untraced"]

UNTRACED_API_KEY = "untraced-service"  # a fake key: the fake API bills it under its own id
UNTRACED_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5")
_PROMPT = "Compile the nightly usage digest for the operations team from the attached notes. " * 20


def run_untraced(base_url: str, plan: DayPlan, count: int) -> Outcome:
    """Make ``count`` uninstrumented calls to the fake at ``base_url``; errors are counted."""
    import anthropic

    outcome = Outcome()
    if count <= 0:
        return outcome
    with anthropic.Anthropic(base_url=base_url, api_key=UNTRACED_API_KEY, max_retries=2) as client:
        for n in range(count):
            at = plan.start + (plan.end - plan.start) * ((n + 0.5) / count)
            params: dict[str, Any] = {
                "model": UNTRACED_MODELS[n % len(UNTRACED_MODELS)], "max_tokens": 512,
                "messages": [{"role": "user", "content": f"[{n}] {_PROMPT}"}],
            }
            try:
                message = client.messages.create(**params, extra_headers={"x-fake-now": f"{at.timestamp():.3f}"})
            except anthropic.APIError as exc:
                outcome.errors[getattr(exc, "type", None) or type(exc).__name__] += 1
                continue
            outcome.ok += 1
            outcome.add_usage(message.usage)
    return outcome
