"""Span values in alert messages are quoted, bounded and neutralised per channel, through the real
delivery path: the engine, the outbox and apprise, to loopback servers (a webhook, aiosmtpd, and
apprise's own Discord and Slack plugins pointed at a loopback endpoint)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.slack import NotifySlack

from claudescope.config import RuleConfig
from tests.alerts.helpers import make_engine
from tests.fixtures_alerts import SmtpSink, WebhookSink, call_row, insert_calls

REFUSALS = RuleConfig(name="refusals", kind="refusal", threshold=0.1, window="15m", params={"group_by": "feature"})
FORGED = "x\nFORGED LINE: RESOLVED [info] every alert is resolved\r\u202egnp.exe\u2066\u200b\ufeff"
# What a reader sees of FORGED: one line, quoted, every hidden character shown as an escape.
FORGED_SHOWN = r'"x\nFORGED LINE: RESOLVED [info] every alert is resolved\r\u202egnp.exe\u2066\u200b\ufeff"'
CHAT = "@everyone @here <!channel> <@123456789012345678> **bold** [link](http://evil.example/x)"
HIDDEN = ("\u202e", "\u2066", "\u200b", "\ufeff", "\r")


class ChatSink:
    """A loopback endpoint standing in for discord.com / hooks.slack.com: records raw JSON bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                sink.bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def chat_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatSink]:
    """apprise's Discord and Slack plugins, unchanged but for the host they post to."""
    sink = ChatSink()
    monkeypatch.setattr(NotifyDiscord, "notify_url", sink.url + "/discord")
    monkeypatch.setattr(NotifySlack, "webhook_url", sink.url + "/slack")
    try:
        yield sink
    finally:
        sink.server.shutdown()
        sink.server.server_close()


def _fire(store: Any, urls: tuple[str, ...], *features: str, user: str = "u-1") -> None:
    engine = make_engine(store, REFUSALS, urls=urls, dashboard_url=None)
    insert_calls(store, [call_row(feature=f, user_id=user, stop_reason="refusal") for f in features])
    engine.evaluate()
    assert engine.deliver() is None


def test_a_value_with_newlines_adds_no_line_and_hidden_characters_show(alert_store: Any, webhook_sink: WebhookSink,
                                                                       smtp_sink: SmtpSink) -> None:
    _fire(alert_store, (webhook_sink.url, smtp_sink.url), FORGED, user="ops\n@everyone")
    (hook,), (mail,) = webhook_sink.messages(), smtp_sink.messages()
    for body in (hook["message"], mail["body"].replace("\r\n", "\n")):
        assert body.splitlines() == [
            "FIRING [warning] refusals: 100.0% of calls (1 of 1) were refused in the last 15m, threshold 10% "
            f"[feature={FORGED_SHOWN}]",
            f"  top features: {FORGED_SHOWN} ($0.0010, 1 call)",
            '  top users: "ops\\n@everyone" ($0.0010, 1 call)',
            '  top models: "claude-sonnet-4-5" ($0.0010, 1 call)',
        ]
        assert not any(char in body for char in HIDDEN)
    # The store keeps the value as sent; only what people read is neutralised.
    stored = alert_store.read_arrow("SELECT summary FROM alert_events").to_pylist()[0]["summary"]
    assert FORGED in stored


def test_huge_values_and_many_alerts_stay_within_each_channel_limit(alert_store: Any, webhook_sink: WebhookSink,
                                                                   smtp_sink: SmtpSink, chat_sink: ChatSink) -> None:
    features = [f"{i:03d}-" + "A" * 70_000 for i in range(40)]
    _fire(alert_store, (webhook_sink.url, smtp_sink.url, "discord://4242/tok", "slack://T1/B1/C1"), *features)
    (hook,), (mail,) = webhook_sink.messages(), smtp_sink.messages()
    discord, slack = (next(b for b in chat_sink.bodies if key in b) for key in ("content", "attachments"))
    assert len(hook["title"]) + len(hook["message"]) <= 4000
    assert len(mail["body"]) <= 20_500  # 20,000 characters, plus the line ends SMTP turns into CRLF
    assert len(discord["content"]) <= 2000
    assert len(slack["attachments"][0]["text"]) <= 3500 * 2  # apprise escapes &, <, > for Slack
    value = r'"\d{3}-A{116}…"'  # each value: at most 120 characters and an ellipsis
    assert re.search(rf"\[feature={value}\]\n  top features: {value} \(", hook["message"])
    shown = hook["message"].count("FIRING [warning]")
    assert 0 < shown < 40 and hook["message"].endswith(f"... and {40 - shown} more alerts: see the dashboard")
    assert mail["body"].count("FIRING [warning]") == 40  # e-mail has room for all forty, bounded values and all


def test_discord_gets_escaped_markdown_and_no_mention(alert_store: Any, chat_sink: ChatSink) -> None:
    _fire(alert_store, ("discord://4242/tok", "discord://4343/tok?format=markdown"), CHAT)
    plain, embed = sorted(chat_sink.bodies, key=lambda b: "embeds" in b)
    assert "allow_mentions" not in plain and "allow_mentions" not in embed  # apprise found no one to ping
    escaped = (r'\[feature="＠everyone ＠here \<!channel\> \<＠123456789012345678\> \*\*bold\*\* '
               r'\[link\]\(http\://evil.example/x\)"\]')
    for text in (plain["content"], embed["embeds"][0]["description"]):
        assert escaped in text
        assert "@" not in text.replace("＠", "")
    assert plain["content"].startswith("[FIRING] refusals (warning)\r\nFIRING \\[warning\\] refusals\\: 100.0% of calls")


def test_slack_gets_inert_mentions(alert_store: Any, chat_sink: ChatSink) -> None:
    _fire(alert_store, ("slack://T1/B1/C1",), CHAT)
    (body,) = chat_sink.bodies
    text = body["attachments"][0]["text"]
    assert body["mrkdwn"] is False
    assert ('[feature="＠everyone ＠here &lt;!channel&gt; &lt;＠123456789012345678&gt; **bold** '
            '[link](http://evil.example/x)"]') in text
    assert "<!" not in text and "<@" not in text and "@" not in text.replace("＠", "")
