"""Facts about a call that several components compute: one definition each.

SQL expressions here are over the ``calls`` view (SPEC section 4); no database code.
"""

from __future__ import annotations

# The kinds of input token a call's prompt is made of, cached or not: their sum is the prompt's
# size, what prompt-size bands and cache hit rates divide by (pricing.Usage.total_input in Python).
INPUT_TOKEN_COLUMNS: tuple[str, ...] = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")
# That sum over the calls view, one row at a time (a NULL count is 0).
TOTAL_INPUT_TOKENS_SQL = " + ".join(f"coalesce({c}, 0)" for c in INPUT_TOKEN_COLUMNS)

# The rate limits Anthropic reports in anthropic-ratelimit-<resource>-* headers, which the
# instrumentation records as claudescope.ratelimit.<resource>.{limit,remaining,reset}.
RATELIMIT_RESOURCES: tuple[str, ...] = ("requests", "tokens", "input_tokens", "output_tokens")
