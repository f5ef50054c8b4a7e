"""Static validation of the compose stack (no Docker engine needed).

- both compose files validate against the Compose Specification JSON schema (vendored from the
  check-jsonschema wheel, see schemas/README.md);
- the wiring holds: one claudescope image for every role, pinned collector image, named
  volumes, one volume per shard, health checks, secrets from the env file, loopback-only ports
  by default, scale-out routing matches the shards;
- every ``claudescope`` command in the compose files and the Dockerfile is a valid invocation of
  the real CLI (``python -m claudescope <cmd> --help`` and click's own argument parsing), and the
  collector / dashboard commands really start and pass the compose health checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from claudescope.cli import app
from claudescope.config import load_config
from claudescope.fakeapi.server import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
FILES = ["docker-compose.yml", "docker-compose.scale.yml"]
OTELCOL_IMAGE = re.compile(r"^otel/opentelemetry-collector-contrib:\d+\.\d+\.\d+$")
SHARD = re.compile(r"^claudescope-shard-(\d+)$")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / name).read_text())


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's variable interpolation: ${VAR}, ${VAR:-default}, $$ -> $ (defaults only)."""
    env = env or {}

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(3) or ""
        return env.get(name) or default

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", one, value)


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def claudescope_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in doc["services"].items() if svc["image"].startswith("claudescope:")}


def role(svc: dict[str, Any]) -> str | None:
    """The claudescope subcommand a service runs (None for shell loops and init helpers)."""
    command = svc.get("command") or [None]
    return None if svc.get("entrypoint") is not None else command[0]


# --- schema ----------------------------------------------------------------------------------


def test_vendored_schema_is_untouched() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


@pytest.mark.parametrize("name", FILES)
def test_compose_file_matches_the_compose_specification(name: str) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(load(name)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_validation_catches_mistakes() -> None:
    # The check must be able to fail: a typo'd key and a wrong type are both rejected.
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    broken = load("docker-compose.yml")
    broken["services"]["claudescope"]["healtcheck"] = {}
    broken["services"]["dashboard"]["ports"] = "8501:8501"
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("healtcheck" in m for m in messages) and len(messages) >= 2


# --- wiring ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_one_claudescope_image_for_every_role(name: str) -> None:
    doc = load(name)
    images = {svc["image"] for svc in claudescope_services(doc).values()}
    assert len(images) == 1
    for svc in claudescope_services(doc).values():
        assert svc["build"] == {"context": "..", "dockerfile": "compose/Dockerfile"}
        assert (COMPOSE / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    others = [svc["image"] for n, svc in doc["services"].items() if n not in claudescope_services(doc)]
    assert others and all(OTELCOL_IMAGE.match(image) for image in others), others


def test_dockerfile_is_slim_non_root_and_installs_the_server_extra() -> None:
    text = (COMPOSE / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim", "python:3.11-slim"]
    assert "[server]" in text and "pip install" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    ignore = (COMPOSE / "Dockerfile.dockerignore").read_text()
    for copied in re.findall(r"^COPY (?!--)(\S+)", text, re.M):
        assert f"!{copied}" in ignore, f"{copied} is copied but excluded from the build context"
        assert (ROOT / copied).exists() or copied == "README.md", copied


@pytest.mark.parametrize("name", FILES)
def test_volumes_are_named_and_each_store_has_its_own(name: str) -> None:
    doc = load(name)
    declared = set(doc["volumes"])
    data_volumes = []
    for svc in doc["services"].values():
        for mount in svc.get("volumes", []):
            source, target = mount.split(":")[:2]
            if not source.startswith("."):
                assert source in declared, f"{source} is not a declared named volume"
            if target == "/data":
                data_volumes.append(source)
    stores = [n for n, s in claudescope_services(doc).items() if role(s) == "collector"]
    assert len(data_volumes) == len(set(data_volumes)) == len(stores) >= 1


@pytest.mark.parametrize("name", FILES)
def test_otelcol_config_and_queue_are_mounted(name: str) -> None:
    otelcol = load(name)["services"]["otelcol"]
    mounts = dict(m.split(":")[:2] for m in otelcol["volumes"])
    config = next(src for src, dst in mounts.items() if dst == "/etc/otelcol-contrib/config.yaml")
    assert (COMPOSE / config).is_file()
    assert "/var/lib/otelcol/file_storage" in mounts.values()
    queue = yaml.safe_load((COMPOSE / config).read_text())["extensions"]["file_storage"]["directory"]
    assert queue == "/var/lib/otelcol/file_storage"


@pytest.mark.parametrize("name", FILES)
def test_health_checks(name: str) -> None:
    for svc_name, svc in claudescope_services(load(name)).items():
        if role(svc) not in ("collector", "dashboard"):
            continue
        test = svc["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], svc_name
        compile(test[3], svc_name, "exec")
        path = "/healthz" if role(svc) == "collector" else "/_stcore/health"
        assert path in test[3], svc_name


@pytest.mark.parametrize("name", FILES)
def test_ports_are_loopback_by_default_and_only_on_the_front_doors(name: str) -> None:
    doc = load(name)
    published = {n: s["ports"] for n, s in doc["services"].items() if "ports" in s}
    assert set(published) == {"otelcol", "dashboard"}
    for ports in published.values():
        for port in ports:
            assert interpolate(port).startswith("127.0.0.1:"), port
            assert interpolate(port, {"CLAUDESCOPE_BIND": "0.0.0.0", "CLAUDESCOPE_DASHBOARD_BIND": "0.0.0.0"}).startswith("0.0.0.0:")


@pytest.mark.parametrize("name", FILES)
def test_dependencies_exist(name: str) -> None:
    services = load(name)["services"]
    for svc in services.values():
        for dependency in svc.get("depends_on", {}):
            assert dependency in services


@pytest.mark.parametrize("name", FILES)
def test_secrets_come_from_the_env_file(name: str) -> None:
    doc = load(name)
    for svc_name, svc in doc["services"].items():
        if svc_name.endswith("-init"):
            continue
        assert svc.get("env_file") == ["claudescope.env"], svc_name
        text = yaml.safe_dump(svc)
        assert "CLAUDESCOPE_TOKEN" not in text.replace("${env:CLAUDESCOPE_TOKEN}", ""), svc_name
    # The real env file holds secrets: it must never be committed.
    assert "claudescope.env" in (COMPOSE / ".gitignore").read_text().splitlines()
    assert "TOKEN" not in (COMPOSE / "Dockerfile").read_text()


def test_env_example_and_config_load_through_the_real_config(tmp_path: Path) -> None:
    env = env_file(COMPOSE / "claudescope.env.example")
    assert set(env) >= {"CLAUDESCOPE_TOKEN", "CLAUDESCOPE_NOTIFY_URLS"}
    env["CLAUDESCOPE_CONFIG"] = str(COMPOSE / "claudescope.toml")
    config = load_config(env=env, overrides={"data_dir": tmp_path})
    assert config.token == env["CLAUDESCOPE_TOKEN"]
    assert config.notify.urls == tuple(env["CLAUDESCOPE_NOTIFY_URLS"].split()) and len(config.notify.urls) == 2
    assert config.budget.daily_usd is not None
    assert config.config_file == COMPOSE / "claudescope.toml"


def test_scale_out_routes_to_every_shard_and_reads_them_all() -> None:
    doc = load("docker-compose.scale.yml")
    shards = sorted(int(m.group(1)) for n in doc["services"] if (m := SHARD.match(n)))
    assert len(shards) >= 2
    otelcol = yaml.safe_load((COMPOSE / "otelcol-scale.yaml").read_text())
    lb = otelcol["exporters"]["loadbalancing"]
    assert lb["routing_key"] == "service"
    assert lb["resolver"]["static"]["hostnames"] == [f"claudescope-shard-{n}:4317" for n in shards]
    command = doc["services"]["dashboard"]["command"]
    api = command[command.index("--api") + 1].split(",")
    assert api == [f"http://claudescope-shard-{n}:4318" for n in shards]
    export = doc["services"]["parquet-export"]
    assert export["environment"]["CLAUDESCOPE_SHARDS"].split() == [str(n) for n in shards]
    for n in shards:
        mounts = doc["services"][f"claudescope-shard-{n}"]["volumes"]
        assert "parquet-export:/export" in mounts and f"shard-{n}-data:/data" in mounts


def test_single_node_forwards_to_the_claudescope_service() -> None:
    doc = load("docker-compose.yml")
    exporter = yaml.safe_load((COMPOSE / "otelcol.yaml").read_text())["exporters"]["otlp_http"]
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", exporter["endpoint"]).groups()  # type: ignore[union-attr]
    assert host in doc["services"] and port in doc["services"][host]["expose"]
    assert doc["services"]["dashboard"]["command"][:3] == ["dashboard", "--api", f"http://{host}:{port}"]


# --- commands --------------------------------------------------------------------------------


def _shell_invocations(script: str) -> list[list[str]]:
    """The ``claudescope ...`` commands of a compose shell loop, shell variables set to samples."""
    script = interpolate(script).replace("\\\n", " ")
    script = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: {"n": "1"}.get(m.group(1) or m.group(2), "X"), script)
    found = []
    for line in script.splitlines():
        line = line.split("||")[0].strip()
        if line.startswith("claudescope "):
            found.append(shlex.split(line)[1:])
    return found


def invocations() -> list[tuple[str, list[str]]]:
    """Every claudescope argv in the compose files and the Dockerfile's default CMD."""
    found = []
    for name in FILES:
        for svc_name, svc in claudescope_services(load(name)).items():
            entrypoint = svc.get("entrypoint")
            if entrypoint == ["/bin/sh", "-c"]:
                found += [(f"{name}:{svc_name}", argv) for argv in _shell_invocations(svc["command"][0])]
            elif entrypoint is None:
                found.append((f"{name}:{svc_name}", [interpolate(a) for a in svc["command"]]))
    text = (COMPOSE / "Dockerfile").read_text()
    assert json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1)) == ["claudescope"]  # type: ignore[union-attr]
    found.append(("Dockerfile:CMD", json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))))  # type: ignore[union-attr]
    return found


INVOCATIONS = invocations()


def test_export_loop_is_valid_shell() -> None:
    script = interpolate(load("docker-compose.scale.yml")["services"]["parquet-export"]["command"][0])
    result = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert "${CLAUDESCOPE_SHARDS}" in script and "$$" not in script


def test_every_role_is_covered() -> None:
    commands = {argv[0] for _, argv in INVOCATIONS}
    assert commands == {"collector", "dashboard", "export"}
    assert ["collector", "--host", "0.0.0.0", "--data", "/data"] in [argv for _, argv in INVOCATIONS]
    assert ["dashboard", "--api", "http://claudescope:4318", "--host", "0.0.0.0"] in [argv for _, argv in INVOCATIONS]
    assert any(argv[:3] == ["export", "--parquet", "/export/shard-1"] for _, argv in INVOCATIONS)


@pytest.mark.parametrize("where,argv", INVOCATIONS, ids=[f"{w}:{a[0]}" for w, a in INVOCATIONS])
def test_command_parses_with_the_real_cli(where: str, argv: list[str]) -> None:
    group = typer.main.get_command(app)
    with group.make_context("claudescope", list(argv), resilient_parsing=False) as ctx:
        name, command, rest = group.resolve_command(ctx, list(argv))
        assert command is not None, where
        # Parses and type-checks every option exactly as at run time, without running it.
        with command.make_context(name, rest, parent=ctx) as sub:
            assert sub.allow_extra_args or not sub.args, f"{where}: unexpected arguments {sub.args}"


def _doc_invocations() -> list[list[str]]:
    """``claudescope <command> ...`` lines in docs/deployment.md's shell blocks."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    group = typer.main.get_command(app)
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\$\([^)]*\)", "2026-11-22", line.split("#")[0])
            words = shlex.split(line)
            for i, word in enumerate(words[:-1]):
                if word == "claudescope" and words[i + 1] in group.commands:  # type: ignore[attr-defined]
                    found.append(words[i + 1:])
    return found


def test_documented_commands_parse_with_the_real_cli() -> None:
    documented = _doc_invocations()
    assert {argv[0] for argv in documented} >= {"backup", "restore", "run"}
    for argv in documented:
        test_command_parses_with_the_real_cli("docs/deployment.md", argv)


def test_cli_parser_rejects_a_bad_option() -> None:
    group = typer.main.get_command(app)
    with group.make_context("claudescope", ["collector", "--hots", "x"]) as ctx:
        name, command, rest = group.resolve_command(ctx, ["collector", "--hots", "x"])
        # typer vendors click (typer._click): match the usage error by its message.
        with pytest.raises(Exception, match="No such option: --hots"):
            command.make_context(name, rest, parent=ctx)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", sorted({argv[0] for _, argv in INVOCATIONS}))
def test_help_lists_every_option_used(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "claudescope", command, "--help"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    for _, argv in INVOCATIONS:
        if argv[0] == command:
            for option in (a for a in argv[1:] if a.startswith("--")):
                assert option in result.stdout, f"{command} --help does not list {option}"


# --- the commands really run and pass the compose health checks ----------------------------


def _healthcheck(service: dict[str, Any], port: int, default_port: int) -> subprocess.CompletedProcess[str]:
    code = service["healthcheck"]["test"][3].replace(f":{default_port}/", f":{port}/")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10)


@contextlib.contextmanager
def _serving(argv: list[str], service: dict[str, Any], port: int, default_port: int, tmp_path: Path) -> Iterator[None]:
    """Run ``claudescope <argv>`` in the container's environment until its health check passes."""
    log_path = tmp_path / f"{argv[0]}.log"
    # The container's environment: env file (no notify URLs: tests never leave the machine) + config.
    env = {k: v for k, v in env_file(COMPOSE / "claudescope.env.example").items() if k != "CLAUDESCOPE_NOTIFY_URLS"}
    env.update({k: interpolate(v) for k, v in service.get("environment", {}).items()})
    env["CLAUDESCOPE_CONFIG"] = str(COMPOSE / "claudescope.toml")  # mounted at /etc/claudescope/ in compose
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "claudescope", *argv], cwd=tmp_path, stdout=log, stderr=log, env={**os.environ, **env}
        )
        try:
            deadline = time.monotonic() + 60
            while _healthcheck(service, port, default_port).returncode != 0:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"{argv} never became healthy:\n{log_path.read_text()}"
                time.sleep(0.3)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, data=b'{"sql": "SELECT count(*) FROM calls"}', method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_compose_collector_and_dashboard_commands_start_and_pass_health_checks(tmp_path: Path) -> None:
    doc = load("docker-compose.yml")
    collector, dashboard = doc["services"]["claudescope"], doc["services"]["dashboard"]
    token = env_file(COMPOSE / "claudescope.env.example")["CLAUDESCOPE_TOKEN"]
    port, grpc_port, dash_port = free_port(), free_port(), free_port()
    # The compose commands, bound to loopback on free ports (tests never take 4318 / 8501).
    argv = [a if a != "0.0.0.0" else "127.0.0.1" for a in collector["command"]]
    argv = [a if a != "/data" else str(tmp_path / "data") for a in argv]
    with _serving([*argv, "--port", str(port), "--grpc-port", str(grpc_port)], collector, port, 4318, tmp_path):
        # The env file's token is enforced: /healthz passed without it, the query API needs it.
        query = f"http://127.0.0.1:{port}/api/v1/query"
        assert (_status(query), _status(query, token)) == (401, 200)
        argv = [a.replace("http://claudescope:4318", f"http://127.0.0.1:{port}") for a in dashboard["command"]]
        argv = [a if a != "0.0.0.0" else "127.0.0.1" for a in argv]
        with _serving([*argv, "--port", str(dash_port)], dashboard, dash_port, 8501, tmp_path):
            pass
