"""Usage counts are range-checked once per span, after all are read (the ingest hot path,
issue 13's bench): a span with several counts no real call has is still rejected alone, named by
the first of them in reading order (cache reads, cache writes, input, output, web searches), as
when each count was checked as it was read. Over OTLP/HTTP to a real collector process."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.fixtures_collector import call_span


def test_a_span_with_several_bad_counts_is_rejected_by_the_first(collector: Any) -> None:
    good = call_span()
    bad = [
        call_span(cache_read_tokens=-1, output_tokens=10**14),  # cache reads first
        call_span(cache_write_1h_tokens=10**10, input_tokens=-3),  # 1h writes before input
        call_span(input_tokens=-2, output_tokens=-2),  # input before output
        call_span(output_tokens=10**12),
    ]
    r = collector.post_spans([bad[0], good, *bad[1:]])
    assert r.status_code == 200, r.text
    answer = ExportTraceServiceResponse.FromString(r.content)

    assert answer.partial_success.rejected_spans == 4
    assert answer.partial_success.error_message.split("; ") == [
        "1 span(s) rejected: cache_read_tokens is negative",
        "1 span(s) rejected: cache_write_1h_tokens above 1,000,000,000 (not a real call)",
        "1 span(s) rejected: input_tokens is negative",
        "1 span(s) rejected: output_tokens above 1,000,000,000 (not a real call)",
    ]
    rows = collector.query("SELECT span_id, input_tokens, output_tokens, cost_usd FROM calls")
    assert [(r["span_id"], r["input_tokens"], r["output_tokens"]) for r in rows] == [(good["span_id"], 100, 20)]
    assert rows[0]["cost_usd"] == "0.000600000"
