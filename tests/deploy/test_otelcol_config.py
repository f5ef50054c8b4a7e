"""Static checks of the OpenTelemetry Collector configs in compose/ against the documented keys.

There is no collector binary here, so this is a small checker of the component names and keys
we use. The allowed keys per component are written out below from the collector's own docs
(shared/research/otel.md §5 lists the sources):

- receiver ``otlp``: opentelemetry-collector ``receiver/otlpreceiver/README.md`` (+ confighttp,
  configgrpc server settings);
- processors ``memory_limiter``, ``batch``: ``processor/memorylimiterprocessor/README.md``,
  ``processor/batchprocessor/README.md``;
- exporters ``otlp_http`` (renamed from ``otlphttp``, PR #14397) and ``otlp_grpc`` (from ``otlp``):
  ``exporter/otlphttpexporter/README.md``, ``exporter/otlpexporter/README.md``; their
  ``retry_on_failure`` / ``sending_queue`` / ``timeout`` from ``exporter/exporterhelper/README.md``;
  ``nop`` (no settings);
- exporter ``loadbalancing``: contrib ``exporter/loadbalancingexporter/README.md`` and
  ``config.go`` (``routing_key``, ``protocol.otlp`` = every OTLP/gRPC exporter option but
  ``endpoint``, ``resolver.static|dns|k8s|aws_cloud_map``, plus exporterhelper options);
- extensions ``health_check`` (contrib ``extension/healthcheckextension``), ``file_storage``
  (contrib ``extension/storage/filestorage/README.md`` and ``config.go``).

The checker only accepts what is listed: a typo, an unknown or deprecated component name, or a
key the component does not have fails the test.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
CONFIGS = ["otelcol.yaml", "otelcol-scale.yaml"]

Spec = Any  # dict (nested keys) | type | tuple (allowed values) | callable check


def duration(value: Any) -> bool:
    return value == 0 or (isinstance(value, str) and re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value) is not None)


def host_port(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[\w.-]*:\d{1,5}", value) is not None


def url(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"https?://[\w.-]+(:\d{1,5})?(/\S*)?", value) is not None


def string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def absolute_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/")


TLS_CLIENT = {"insecure": bool, "insecure_skip_verify": bool, "ca_file": str, "cert_file": str, "key_file": str,
              "server_name_override": str, "min_version": str, "max_version": str}
TLS_SERVER = {"ca_file": str, "cert_file": str, "key_file": str, "client_ca_file": str, "min_version": str,
              "max_version": str}
RETRY = {"enabled": bool, "initial_interval": duration, "max_interval": duration, "max_elapsed_time": duration,
         "multiplier": (1.5, 2, 2.0), "randomization_factor": float}
QUEUE = {"enabled": bool, "num_consumers": int, "queue_size": int, "sizer": ("requests", "items", "bytes"),
         "block_on_overflow": bool, "blocking": bool, "storage": str, "wait_for_result": bool,
         "batch": {"flush_timeout": duration, "min_size": int, "max_size": int, "sizer": ("items", "bytes")}}
COMPRESSION = ("gzip", "zstd", "snappy", "zlib", "deflate", "none", "")
AUTH = {"authenticator": str}
OTLP_GRPC = {"endpoint": host_port, "compression": COMPRESSION, "tls": TLS_CLIENT, "headers": string_map,
             "timeout": duration, "retry_on_failure": RETRY, "sending_queue": QUEUE, "balancer_name": str,
             "wait_for_ready": bool, "write_buffer_size": int, "read_buffer_size": int, "auth": AUTH,
             "keepalive": {"time": duration, "timeout": duration, "permit_without_stream": bool}}
OTLP_HTTP = {"endpoint": url, "traces_endpoint": url, "metrics_endpoint": url, "logs_endpoint": url,
             "compression": COMPRESSION, "encoding": ("proto", "json"), "timeout": duration, "tls": TLS_CLIENT,
             "headers": string_map, "retry_on_failure": RETRY, "sending_queue": QUEUE, "auth": AUTH,
             "read_buffer_size": int, "write_buffer_size": int, "max_idle_conns": int, "idle_conn_timeout": duration,
             "disable_keep_alives": bool, "proxy_url": url}
LOADBALANCING = {
    "routing_key": ("traceID", "service", "resource", "metric", "streamID", "attributes"),
    "protocol": {"otlp": {k: v for k, v in OTLP_GRPC.items() if k != "endpoint"}},
    "resolver": {
        "static": {"hostnames": lambda v: isinstance(v, list) and all(host_port(h) for h in v)},
        "dns": {"hostname": str, "port": str, "interval": duration, "timeout": duration},
        "k8s": {"service": str, "ports": list, "timeout": duration, "return_hostnames": bool},
        "aws_cloud_map": {"namespace": str, "service_name": str, "port": int, "interval": duration,
                          "timeout": duration, "health_status": str},
    },
    "timeout": duration, "retry_on_failure": RETRY, "sending_queue": QUEUE,
}
COMPONENTS: dict[str, dict[str, Spec]] = {
    "receivers": {
        "otlp": {"protocols": {
            "grpc": {"endpoint": host_port, "transport": ("tcp",), "tls": TLS_SERVER, "auth": AUTH,
                     "max_recv_msg_size_mib": int, "max_concurrent_streams": int, "read_buffer_size": int,
                     "write_buffer_size": int, "include_metadata": bool,
                     "keepalive": {"server_parameters": dict, "enforcement_policy": dict}},
            "http": {"endpoint": host_port, "tls": TLS_SERVER, "auth": AUTH, "cors": dict, "include_metadata": bool,
                     "max_request_body_size": int, "traces_url_path": str, "metrics_url_path": str,
                     "logs_url_path": str, "response_headers": string_map},
        }},
    },
    "processors": {
        "memory_limiter": {"check_interval": duration, "limit_mib": int, "spike_limit_mib": int,
                           "limit_percentage": int, "spike_limit_percentage": int},
        "batch": {"send_batch_size": int, "send_batch_max_size": int, "timeout": duration,
                  "metadata_keys": string_list, "metadata_cardinality_limit": int},
    },
    "exporters": {"otlp_http": OTLP_HTTP, "otlp_grpc": OTLP_GRPC, "loadbalancing": LOADBALANCING, "nop": {}},
    "extensions": {
        "health_check": {"endpoint": host_port, "path": str, "tls": TLS_SERVER, "response_body": dict,
                         "check_collector_pipeline": dict},
        "file_storage": {"directory": absolute_path, "timeout": duration, "fsync": bool, "create_directory": bool,
                         "directory_permissions": str, "recreate": bool,
                         "compaction": {"on_start": bool, "on_rebound": bool, "directory": absolute_path,
                                        "max_transaction_size": int, "rebound_needed_threshold_mib": int,
                                        "rebound_trigger_threshold_mib": int, "check_interval": duration,
                                        "cleanup_on_start": bool}},
    },
}
DEPRECATED = {"otlphttp": "otlp_http", "otlp": "otlp_grpc"}  # exporter names only
REQUIRED = {"otlp_http": "endpoint", "otlp_grpc": "endpoint", "loadbalancing": "resolver"}
SERVICE = {"extensions": string_list, "pipelines": dict,
           "telemetry": {"logs": {"level": ("debug", "info", "warn", "error"), "encoding": ("console", "json")},
                         "metrics": dict, "resource": dict}}
PIPELINE = {"receivers": string_list, "processors": string_list, "exporters": string_list}


def check_value(value: Any, spec: Spec, path: str, errors: list[str]) -> None:
    """Append to ``errors`` every way ``value`` departs from ``spec``."""
    if isinstance(spec, dict):
        if value is None:
            return  # `nop:` / `file_storage:`: every setting at its default
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping")
            return
        for key, sub in value.items():
            if key not in spec:
                errors.append(f"{path}.{key}: unknown key (allowed: {sorted(spec)})")
            else:
                check_value(sub, spec[key], f"{path}.{key}", errors)
    elif isinstance(spec, tuple):
        if value not in spec:
            errors.append(f"{path}: {value!r} not one of {spec}")
    elif spec in (bool, str, dict, list):
        if not isinstance(value, spec):
            errors.append(f"{path}: expected {spec.__name__}, got {value!r}")
    elif spec in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"{path}: expected a number, got {value!r}")
    elif callable(spec) and not spec(value):
        errors.append(f"{path}: invalid value {value!r} ({getattr(spec, '__name__', 'check')})")


def check_config(config: dict[str, Any]) -> list[str]:
    """Every problem with a collector config, as readable strings (empty = valid)."""
    errors: list[str] = []
    for section in config:
        if section not in (*COMPONENTS, "service", "connectors"):
            errors.append(f"{section}: unknown top-level section")
    defined: dict[str, set[str]] = {}
    for section, kinds in COMPONENTS.items():
        defined[section] = set()
        for component_id, settings in (config.get(section) or {}).items():
            kind = component_id.split("/", 1)[0]
            defined[section].add(component_id)
            if section == "exporters" and kind in DEPRECATED:
                errors.append(f"exporters.{component_id}: deprecated name, use {DEPRECATED[kind]}")
            elif kind not in kinds:
                errors.append(f"{section}.{component_id}: unknown component (known: {sorted(kinds)})")
            else:
                check_value(settings, kinds[kind], f"{section}.{component_id}", errors)
                if kind in REQUIRED and REQUIRED[kind] not in (settings or {}):
                    errors.append(f"{section}.{component_id}: {REQUIRED[kind]} is required")
    service = config.get("service") or {}
    check_value(service, SERVICE, "service", errors)
    errors += _check_pipelines(service, defined)
    errors += _check_storage_refs(config, service)
    return errors


def _check_pipelines(service: dict[str, Any], defined: dict[str, set[str]]) -> list[str]:
    errors = []
    used: dict[str, set[str]] = {section: set() for section in defined}
    for ext in service.get("extensions", []):
        used["extensions"].add(ext)
        if ext not in defined["extensions"]:
            errors.append(f"service.extensions: {ext} is not defined")
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        errors.append("service.pipelines: at least one pipeline is required")
    for name, pipeline in pipelines.items():
        where = f"service.pipelines.{name}"
        if not re.fullmatch(r"(traces|metrics|logs)(/[\w-]+)?", name):
            errors.append(f"{where}: pipeline type must be traces, metrics or logs")
        check_value(pipeline, PIPELINE, where, errors)
        for section in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(section, []):
                used[section].add(component_id)
                if component_id not in defined[section]:
                    errors.append(f"{where}.{section}: {component_id} is not defined")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            errors.append(f"{where}: needs receivers and exporters")
        processors = [p.split("/")[0] for p in pipeline.get("processors", [])]
        if "memory_limiter" in processors and processors[0] != "memory_limiter":
            errors.append(f"{where}.processors: memory_limiter must come first")
        if "batch" in processors and processors[-1] != "batch":
            errors.append(f"{where}.processors: batch must come last")
    for section, ids in defined.items():
        for component_id in sorted(ids - used[section]):
            errors.append(f"{section}.{component_id}: defined but never used")
    return errors


def _check_storage_refs(config: dict[str, Any], service: dict[str, Any]) -> list[str]:
    errors = []
    for exporter_id, settings in (config.get("exporters") or {}).items():
        storage = ((settings or {}).get("sending_queue") or {}).get("storage")
        if storage is not None and storage not in service.get("extensions", []):
            errors.append(f"exporters.{exporter_id}.sending_queue.storage: {storage} is not an enabled extension")
    return errors


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_config_uses_only_documented_components_and_keys(name: str) -> None:
    assert check_config(load(name)) == []


@pytest.mark.parametrize("name", CONFIGS)
def test_front_door_listens_on_both_otlp_protocols_for_other_containers(name: str) -> None:
    protocols = load(name)["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"


@pytest.mark.parametrize("name", CONFIGS)
def test_nothing_is_lost_while_claudescope_restarts(name: str) -> None:
    config = load(name)
    exporter = config["exporters"]["otlp_http" if name == "otelcol.yaml" else "loadbalancing"]
    queue = exporter["sending_queue"]
    assert queue["enabled"] and queue["storage"] == "file_storage"
    assert exporter["retry_on_failure"]["enabled"] and exporter["retry_on_failure"]["max_elapsed_time"] == 0
    assert config["extensions"]["file_storage"]["fsync"] is True
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["processors"][0] == "memory_limiter"
    assert "batch" in config["service"]["pipelines"]["traces"]["processors"]


@pytest.mark.parametrize("name", CONFIGS)
def test_token_comes_from_the_environment(name: str) -> None:
    text = (COMPOSE / name).read_text()
    references = re.findall(r"\$\{([^}]*)\}", text)
    assert references and all(re.fullmatch(r"env:[A-Z_][A-Z0-9_]*", r) for r in references), references
    example = (COMPOSE / "claudescope.env.example").read_text()
    for reference in references:
        assert re.search(rf"^{reference[4:]}=", example, re.M), reference


def test_single_node_exports_over_otlp_http_to_claudescope() -> None:
    exporter = load("otelcol.yaml")["exporters"]["otlp_http"]
    assert exporter["endpoint"] == "http://claudescope:4318"
    assert exporter["headers"]["authorization"] == "Bearer ${env:CLAUDESCOPE_TOKEN}"


def test_scale_out_routes_by_service_over_grpc() -> None:
    lb = load("otelcol-scale.yaml")["exporters"]["loadbalancing"]
    assert lb["routing_key"] == "service"
    assert all(h.endswith(":4317") for h in lb["resolver"]["static"]["hostnames"])
    assert "endpoint" not in lb["protocol"]["otlp"]
    # routing_key: service applies to traces; only traces may go through the load balancer.
    pipelines = load("otelcol-scale.yaml")["service"]["pipelines"]
    assert [n for n, p in pipelines.items() if "loadbalancing" in p["exporters"]] == ["traces"]


MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("typo in a key", lambda c: c["processors"]["batch"].update(timout="1s"), "processors.batch.timout: unknown key"),
    ("old exporter name", lambda c: c["exporters"].update(otlphttp={"endpoint": "http://x:1"}), "deprecated name, use otlp_http"),
    ("unknown component", lambda c: c["processors"].update(tail_samplin={}), "unknown component"),
    ("bad duration", lambda c: c["processors"]["memory_limiter"].update(check_interval="1 second"), "invalid value"),
    ("processor order", lambda c: c["service"]["pipelines"]["traces"]["processors"].reverse(), "memory_limiter must come first"),
    ("undefined reference", lambda c: c["service"]["pipelines"]["traces"]["exporters"].append("otlp_grpc/x"), "is not defined"),
    ("queue storage not enabled", lambda c: c["service"]["extensions"].remove("file_storage"), "not an enabled extension"),
    ("missing endpoint", lambda c: c["exporters"]["otlp_http"].pop("endpoint"), "endpoint is required"),
    ("bad pipeline type", lambda c: c["service"]["pipelines"].update(spans=c["service"]["pipelines"]["traces"]), "must be traces"),
]


@pytest.mark.parametrize("mutate,expected", [(m, e) for _, m, e in MUTATIONS], ids=[n for n, _, _ in MUTATIONS])
def test_checker_rejects_broken_configs(mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    config = copy.deepcopy(load("otelcol.yaml"))
    mutate(config)
    errors = check_config(config)
    assert any(expected in e for e in errors), errors
