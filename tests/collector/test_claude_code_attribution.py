"""``[claude_code] feature``: which Claude Code attribute fills ``feature`` (docs/claude-code.md).

Claude Code 2.1.332 adds ``agent.name`` / ``skill.name`` to an ``api_request`` event when a
subagent or a skill made the request; the corpus run (``claude -p``) has neither, so the real
event is extended with them, as the CLI does, and replayed into a real collector.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.collector.test_claude_code_ingest import bodies, replay
from tests.fixtures_collector import free_port


def _event_with(extra: dict[str, str]) -> tuple[str, str, bytes]:
    """The protobuf mode's api_request body with ``extra`` attributes added to its records."""
    _, content_type, raw = next(b for b in bodies("protobuf") if b[0] == "/v1/logs" and b"api_request" in b[2])
    request = ExportLogsServiceRequest.FromString(raw)
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                for key, value in extra.items():
                    kv = record.attributes.add()
                    kv.key, kv.value.string_value = key, value
    return "/v1/logs", content_type, request.SerializeToString()


def _feature(collector_factory: Any, config: str | None, extra: dict[str, str]) -> str | None:
    c = collector_factory(config)
    replay(c, [_event_with(extra)])
    rows = c.query("SELECT feature, json_extract_string(attributes, '$.query_source') AS qs FROM calls")
    assert len(rows) == 1 and rows[0]["qs"] == "sdk"  # query_source is kept in attributes whatever is chosen
    return rows[0]["feature"]


NAMES = {"agent.name": "code-reviewer", "skill.name": "pdf"}


@pytest.mark.parametrize(("config", "extra", "want"), [
    (None, NAMES, "sdk"),  # the default: query_source
    ('[claude_code]\nfeature = "query_source"\n', NAMES, "sdk"),
    ('[claude_code]\nfeature = "agent"\n', NAMES, "code-reviewer"),
    ('[claude_code]\nfeature = "skill"\n', NAMES, "pdf"),
    ('[claude_code]\nfeature = "agent"\n', {}, "sdk"),  # no agent on the event: query_source
    ('[server]\ningest_workers = 1\n[claude_code]\nfeature = "skill"\n', NAMES, "pdf"),  # passed to worker processes
])
def test_feature_follows_the_config(collector_factory: Any, config: str | None, extra: dict[str, str], want: str) -> None:
    assert _feature(collector_factory, config, extra) == want


def test_a_bad_choice_names_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "claudescope.toml"
    config.write_text('[claude_code]\nfeature = "agents"\n')
    done = subprocess.run(
        [sys.executable, "-m", "claudescope", "collector", "--config", str(config), "--data", str(tmp_path / "d"),
         "--port", str(free_port()), "--grpc-port", "0", "--no-alerts"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert f"{config}: [claude_code] feature: must be one of ['query_source', 'agent', 'skill'], got 'agents'" in done.stderr
    assert "Traceback" not in done.stderr
