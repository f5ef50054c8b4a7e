"""The collector's composition root: store, writer, HTTP and gRPC servers, alert engine."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from claudescope.collector.admin_api import admin_routes
from claudescope.collector.app import Collector, build_app
from claudescope.collector.decode import IngestPool, resolve_workers
from claudescope.collector.metrics import Metrics
from claudescope.collector.reconcile.schedule import DailyReconcile
from claudescope.collector.reconcile.spend_limits import SpendLimitPoller
from claudescope.collector.stacking import StackIndex
from claudescope.collector.store import Store, StoreError
from claudescope.collector.writer import Writer
from claudescope.config import ADMIN_KEY_ENV, Config, ConfigError
from claudescope.logs import configure_logging
from claudescope.pricing import PriceTable

log = logging.getLogger("claudescope.collector")
RETENTION_EVERY_S = 3600.0
ADMIN_JOB_JOIN_S = 10.0
STACK_PRELOAD_ROWS = 100_000  # how far back a resend or a stacked producer's copy is recognised


def build_collector(config: Config) -> Collector:
    """Open the store and wire the ingest pipeline (no servers or worker processes started)."""
    store = Store.open(config.db_path)
    metrics = Metrics()
    stack = StackIndex(prices=PriceTable.load(config.pricing))  # merged copies are billed again
    stack.preload(store.recent_call_keys(STACK_PRELOAD_ROWS))
    writer = Writer(
        store, metrics, max_queue_rows=config.limits.max_queue_spans,
        commit_interval_ms=config.limits.commit_interval_ms, stack=stack,
    )
    ingest = IngestPool(config.pricing, config.limits, resolve_workers(config.ingest_workers), config.claude_code)
    return Collector(
        config=config, store=store, writer=writer, ingest=ingest, metrics=metrics,
        admin_routes=tuple(admin_routes(config, store, ingest)),
    )


def run_collector(config: Config, *, with_alerts: bool = True) -> None:
    """Serve OTLP/HTTP + query API on config.host:port and OTLP/gRPC on grpc_port until SIGINT/SIGTERM."""
    configure_logging(config.log_format)
    # httpx logs every Admin API request at INFO: a line per poll says nothing the jobs' own lines do not.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        collector = build_collector(config)
    except StoreError as exc:
        log.error("%s", exc)
        sys.exit(2)
    engine = None
    if with_alerts:
        engine = _start_alerts(config, collector.store)
    grpc_server = None
    collector.ingest.start()
    collector.writer.start()
    stop_retention = _start_retention(config, collector.store)
    stop_admin, admin_jobs = _start_admin_jobs(config, collector.store)
    try:
        if config.grpc_port:
            from claudescope.collector.grpc_server import start_grpc

            grpc_server = start_grpc(collector, config.host, config.grpc_port)
            log.info("OTLP/gRPC listening on %s:%d", config.host, config.grpc_port)
        sock = _bind(config.host, config.port)
        port = sock.getsockname()[1]
        log.info(
            "collector listening on http://%s:%d (OTLP/HTTP /v1/traces, query API /api/v1/query), data %s",
            config.host, port, config.data_dir.resolve(),
        )
        server = _Server(
            uvicorn.Config(build_app(collector), log_level="warning", access_log=False, timeout_graceful_shutdown=5, lifespan="off")
        )
        server.run(sockets=[sock])
    finally:
        log.info("collector stopping: flushing queued spans and closing the store")
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait()
        stop_retention.set()
        stop_admin.set()
        for job in admin_jobs:  # a read in flight ends within its timeout; the store closes after it
            job.join(ADMIN_JOB_JOIN_S)
        collector.ingest.close()
        collector.writer.stop()
        if engine is not None:
            engine.stop()
        collector.store.close()
        log.info("collector stopped")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its shutdown, which would skip our flush and close."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handlers = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


def _start_alerts(config: Config, store: Store) -> Any:
    try:
        from claudescope.alerts.engine import AlertEngine
    except ImportError as exc:
        log.warning("alert engine unavailable (%s); running without alerts", exc)
        return None
    try:
        engine = AlertEngine(config, store)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        store.close()
        sys.exit(2)
    store.subscribe(engine.on_commit)
    engine.start()
    log.info("alert engine started")
    return engine


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _start_retention(config: Config, store: Store) -> threading.Event:
    stop = threading.Event()
    if not config.retention_days:
        return stop
    days = config.retention_days

    def loop() -> None:
        while True:
            cutoff = datetime.now(UTC) - timedelta(days=days)
            try:
                removed = store.delete_older_than(cutoff)
                if removed:
                    log.info("retention: removed %d calls older than %s", removed, cutoff.date())
            except Exception as exc:
                log.warning("retention pass failed: %s", exc)
            if stop.wait(RETENTION_EVERY_S):
                return

    threading.Thread(target=loop, name="claudescope-retention", daemon=True).start()
    return stop


def _start_admin_jobs(config: Config, store: Store) -> tuple[threading.Event, list[DailyReconcile | SpendLimitPoller]]:
    """Spend-limit polling and the daily reconcile, when the admin key is in the environment."""
    stop = threading.Event()
    if config.reconcile.admin_key is None:
        log.info("reconciliation and spend limits are off (no %s in the environment)", ADMIN_KEY_ENV)
        return stop, []
    jobs: list[DailyReconcile | SpendLimitPoller] = []
    poller = SpendLimitPoller.for_config(store, config.reconcile, stop)
    if poller is not None:
        jobs.append(poller.start())
        log.info("spend limits: read from %s every %gs", config.reconcile.admin_api_url, config.reconcile.spend_limits_every_s)
    daily = DailyReconcile.for_config(store, config, stop)
    if daily is not None:
        jobs.append(daily.start())
        log.info("daily reconcile on at %02d:00 UTC (last %d days)", config.reconcile.daily_hour_utc, config.reconcile.lookback_days)
    else:
        log.info("daily reconcile off ([reconcile] daily = false)")
    return stop, jobs
