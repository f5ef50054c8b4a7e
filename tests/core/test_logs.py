"""Log lines never carry secrets, and the JSON format is one object per line."""

from __future__ import annotations

import json
import logging

import pytest

from claudescope.logs import JsonFormatter, RedactSecrets, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer tok-123456", "tok-123456"),
        ("using key sk-ant-api03-abcdef", "abcdef"),
        ("notify mailtos://user:hunter2@smtp.example.com?to=a@b.c", "hunter2"),
        ('{"token": "s3cr3t"}', "s3cr3t"),
    ],
)
def test_redact_masks_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_json_formatter_with_redaction() -> None:
    record = logging.makeLogRecord(
        {"name": "claudescope.collector", "levelno": logging.INFO, "levelname": "INFO",
         "msg": "listening, token=%s", "args": ("abc",), "port": 4318}
    )
    assert RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["message"] == "listening, token=***"
    assert payload["port"] == 4318 and payload["level"] == "info"
    assert payload["time"].endswith("+00:00")
