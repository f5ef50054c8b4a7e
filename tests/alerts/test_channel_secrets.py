"""A notification URL's secrets (a webhook's path token, its query token, an SMTP password) reach
no table and no log line: a real collector delivers to a loopback webhook (one failure first, so
the retry warning is logged) and to an SMTP server that refuses the login."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import apprise
import duckdb

from claudescope.alerts.delivery import masked_name
from tests.fixtures_alerts import SmtpSink, WebhookSink, wait_for
from tests.fixtures_collector import call_span

RULE = """
[[alerts.rules]]
name = "refusals"
kind = "refusal"
threshold = 0.1
window = "15m"
group_by = "feature"
"""


def _through_api(collector: Any) -> str:
    """The alert tables and the calls, as a user reads them through the query API."""
    return "\n".join(json.dumps(collector.query(f"SELECT * FROM {table}"), default=str)
                     for table in ("alert_events", "alert_deliveries", "calls"))


def _every_table(data_dir: Path) -> str:
    """Every row of every table in the store file (the collector stopped), internal ones included."""
    stores = list(data_dir.glob("*.duckdb"))
    assert stores, f"no store in {data_dir}"
    texts = []
    for store in stores:
        con = duckdb.connect(str(store), read_only=True)
        try:
            tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal").fetchall()
            assert any(name == "alert_deliveries" for _, name in tables)
            for schema, name in tables:
                texts.append(repr(con.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall()))
        finally:
            con.close()
    return "\n".join(texts)


def test_channel_secrets_reach_no_table_and_no_log(collector_factory: Any, webhook_sink: WebhookSink,
                                                   smtp_sink: SmtpSink) -> None:
    path_token, query_token, password = (secrets.token_hex(12) for _ in range(3))
    hook = f"json://127.0.0.1:{webhook_sink.port}/hook/{path_token}?token={query_token}"
    mail = f"mailto://alice:{password}@127.0.0.1:{smtp_sink.port}?from=a@example.com&to=b@example.com"
    config = RULE + f"[notify]\nurls = {json.dumps([hook, mail])}\n"
    webhook_sink.fail_next(1)
    collector = collector_factory(config, alerts=True)
    assert collector.post_spans([call_span(feature="support", stop_reason="refusal")]).status_code == 200
    wait_for(webhook_sink.messages, timeout=20)  # the retry went through
    deliveries = wait_for(lambda: (rows := collector.query("SELECT channel_name, ok, error FROM alert_deliveries"))
                          and len(rows) >= 3 and rows, timeout=20)
    names = {d["channel_name"] for d in deliveries}
    assert names == {f"json://127.0.0.1:{webhook_sink.port}/hook/****", f"mailto://alice:****@127.0.0.1:{smtp_sink.port}/b%40example.com"}
    assert sorted((d["channel_name"].split(":")[0], d["ok"]) for d in deliveries)[:2] == [("json", False), ("json", True)]
    assert "alert delivery to json://127.0.0.1" in collector.log()  # the failure was logged, masked
    readable = _through_api(collector)
    collector.stop()
    stored, log = _every_table(collector.data_dir), collector.log()
    for secret in (path_token, query_token, password):
        assert secret not in readable and secret not in stored and secret not in log


def test_masked_names_keep_scheme_and_host_and_hide_tokens() -> None:
    cases = {
        "json://hooks.example.com/hook/AbCdEfGhIjKlMnOp": "json://hooks.example.com/hook/****",
        "json://hooks.example.com/SECRETWORD?token=abc&key=def": "json://hooks.example.com/****",
        "slack://T000AAAA/B000BBBB/XXXXSECRETXXXX/#alerts": "slack://****/****/****/%23alerts/",
        "discord://123456789/SECRETTOKENabc": "discord://****/****/",
        "mailtos://user:PASSWORD@smtp.example.com?to=oncall@example.com":
            "mailtos://user:****@smtp.example.com/oncall%40example.com",
        "ntfy://ntfy.example.com/mysecrettopic": "ntfy://ntfy.example.com/****",
    }
    for url, expected in cases.items():
        assert masked_name(apprise.Apprise.instantiate(url).url(privacy=True)) == expected, url
