"""Which calls each dashboard number counts: defined once here, used by every query, said on every page.

- **Calls, spend and tokens** count every operation (Messages calls, ``count_tokens``, batch
  bookkeeping and results): each is a row of ``calls`` and each may cost money.
- **Latency, error rate and retries** count model calls only (``operation = 'chat'``): a token
  count or a batch's bookkeeping has no answer time, and its failures are not the model's.
- **Stop reasons and truncation** count answered model calls (model calls that succeeded): only
  those have a stop reason.
- **Coding agents** are the calls Claude Code reported (``source = 'claude-code'``); the rest are
  the applications' own calls. Claude Code's own price of a call is ``attributes.cost_usd``.
- **Unpriced** calls are calls whose model has no price (``cost_usd`` NULL): their cost is
  unknown, never $0. A failed call and a token count cost exactly 0, so they are never unpriced.
"""

from __future__ import annotations

MODEL_CALL = "operation = 'chat'"
ANSWERED = f"({MODEL_CALL}) AND status = 'ok'"
FAILED_MODEL_CALL = f"({MODEL_CALL}) AND status = 'error'"
UNPRICED = "cost_usd IS NULL"
CLAUDE_CODE_CALL = "source = 'claude-code'"
APP_CALL = "coalesce(source, '') <> 'claude-code'"
# Claude Code and claudescope price from the same table; a difference beyond this (per call or per
# session and model) is a real one, not float rounding in Claude Code's own figure.
ROUNDING_USD = "0.000001"

CAPTION = ("Calls and spend count every operation; latency, error rate and retries count model calls "
           "(`chat`) only; stop reasons count model calls that answered.")
