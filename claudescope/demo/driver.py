"""``claudescope demo``: a realistic production day of Claude traffic, compressed in time.

It starts the bundled fake Anthropic API in-process (or uses the real API with ``--live``),
instruments the real ``anthropic`` SDK with ``claudescope.instrument``, and drives the day
planned by :mod:`claudescope.demo.scenario` from a thread pool, with a progress bar: plain
and streamed Messages calls, count_tokens, a small Message Batch, retries through a 09:00
burst of 429s and 529s. Spans go to the collector over OTLP/HTTP, each moved onto its
simulated time of day (see :mod:`claudescope.demo.timeshift`) so the dashboard shows a day.

With ``fake_api`` it drives an already-running fake (``python -m claudescope.fakeapi``)
instead, so the fake's billing ledger outlives the demo and ``claudescope reconcile`` can read
its Admin API afterwards; ``untraced_calls`` adds calls that are billed but never traced
(:mod:`claudescope.demo.untraced`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from claudescope.demo.calls import Outcome, run_batch, run_call, warm_up
from claudescope.demo.scenario import (
    DayPlan, PlannedBatch, PlannedCall, output_median, plan_day, rate_limits, request_params,
)
from claudescope.demo.timeshift import SimulatedClock, TimeShiftExporter, TimeShiftProcessor
from claudescope.demo.untraced import run_untraced

__all__ = ["DemoError", "DemoInterrupted", "DemoSummary", "check_collector", "run_demo", "DEMO_LATENCY_SCALE",
           "SERVICE_NAME"]

SERVICE_NAME = "claudescope-demo"
DEMO_LATENCY_SCALE = 0.01  # fake latencies run 100x faster; spans are stretched back
RETRY_AFTER_S = 0.05
BATCH_TIMEOUT_S = 30.0


@dataclass
class DemoSummary:
    """Totals of a demo run; renders as a rich table."""

    endpoint: str
    mode: str
    planned: int
    ok: int
    errors: Counter[str]
    retries: int
    usage: Counter[str]
    batch_results: int
    wall_s: float
    window: str
    features: Counter[str]
    models: Counter[str]
    spans_delivered: int = 0
    spans_failed: int = 0
    untraced_calls: int = 0

    @property
    def calls(self) -> int:
        """Planned calls made (successful or not), batch results excluded."""
        return self.ok + sum(self.errors.values())

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title="claudescope demo", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(justify="right")
        errors = ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "none"
        rows = [
            ("API", self.mode),
            ("simulated day (UTC)", self.window),
            ("calls", f"{self.calls:,} ({self.ok:,} ok)"),
            ("errors", f"{sum(self.errors.values()):,}  ({errors})"),
            ("retries", f"{self.retries:,}"),
            ("batch results", f"{self.batch_results:,}"),
            ("input tokens (uncached)", f"{self.usage['input']:,}"),
            ("cache read / write tokens", f"{self.usage['cache_read']:,} / {self.usage['cache_write']:,}"),
            ("output tokens", f"{self.usage['output']:,}"),
            *([("untraced calls (billed, not traced)", f"{self.untraced_calls:,}")] if self.untraced_calls else []),
            ("wall time", f"{self.wall_s:.1f} s"),
            ("spans delivered", f"{self.spans_delivered:,} to {self.endpoint}"
             + (f"  [red]({self.spans_failed:,} failed)[/]" if self.spans_failed else "")),
        ]
        for key, value in rows:
            table.add_row(key, value)
        yield table


def run_demo(
    *,
    endpoint: str,
    calls: int,
    seed: int,
    live_api_key: str | None,
    concurrency: int,
    console: Console,
    token: str | None = None,
    exporter: Any = None,
    fake_api: str | None = None,
    untraced_calls: int = 0,
) -> DemoSummary:
    """Run the simulated day and return its summary.

    Args:
        endpoint: collector base URL (OTLP/HTTP port); spans go to ``endpoint/v1/traces``.
        calls: how many calls the day makes (plus one small Message Batch when >= 50).
        seed: scenario seed (same seed, same day).
        live_api_key: call the real Anthropic API with this key instead of the fake one.
        concurrency: parallel callers (threads).
        console: where the progress bar goes.
        token: the collector's bearer token (CLAUDESCOPE_TOKEN), if it requires one.
        exporter: an OpenTelemetry SpanExporter to use instead of OTLP/HTTP (tests).
        fake_api: base URL of a running fake API to drive instead of starting one.
        untraced_calls: extra calls made, after the day, with an uninstrumented client
            (billed by the fake, never traced); fake API only.

    Raises:
        DemoError: no collector answers at ``endpoint`` (checked before any call is made).
        DemoInterrupted: Ctrl-C (SIGINT, when run from the main thread) stopped the day; the
            calls in flight finished and the spans of every call made were flushed first.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if live_api_key and (fake_api or untraced_calls):
        raise DemoError("--fake-api and --untraced-calls need the fake API, not --live")
    if fake_api:
        check_fake_api(fake_api)
    if exporter is None:
        check_collector(endpoint, headers)
    plan = plan_day(calls, seed)
    if live_api_key:
        console.print(f"[bold yellow]live mode:[/] {calls:,} calls to the real Anthropic API will be billed")
    started = time.monotonic()
    with _ctrl_c() as stop, _api(live_api_key, seed, calls, fake_api) as base_url:
        if base_url is not None:
            warm_up(base_url)
        stretch = 1.0 if live_api_key else 1.0 / DEMO_LATENCY_SCALE
        with _telemetry(endpoint, headers, exporter, stretch) as (clock, shifter):
            client = _client(base_url, live_api_key)
            if live_api_key:
                _check_live(client)
            outcome = _drive(plan, client, clock, concurrency, console, live=bool(live_api_key), stop=stop)
            client.close()
        # After _telemetry: the SDK is no longer instrumented, as in a service that never was.
        untraced = run_untraced(base_url, plan, untraced_calls) if base_url and not stop.requested else None
    made = outcome.ok - outcome.usage["batch_results"] + sum(outcome.errors.values())
    if stop.requested and made < len(plan.calls):
        raise DemoInterrupted(f"interrupted after {made:,} of {len(plan.calls):,} calls; "
                              f"{shifter.delivered:,} spans sent to {endpoint}")
    return DemoSummary(
        endpoint=endpoint if exporter is None else type(exporter).__name__,
        mode="live Anthropic API" if live_api_key else f"bundled fake API (seed {seed})",
        planned=len(plan.calls),
        ok=outcome.ok - outcome.usage["batch_results"],
        errors=outcome.errors,
        retries=outcome.retries,
        usage=outcome.usage,
        batch_results=outcome.usage["batch_results"],
        wall_s=time.monotonic() - started,
        window=f"{plan.start:%Y-%m-%d %H:%M} .. {plan.end:%Y-%m-%d %H:%M}",
        features=Counter(c.feature for c in plan.calls),
        models=Counter(c.model for c in plan.calls),
        spans_delivered=shifter.delivered,
        spans_failed=shifter.failed,
        untraced_calls=untraced.ok if untraced else 0,
    )


class DemoError(RuntimeError):
    """The demo cannot run as asked (e.g. no collector to send spans to)."""

    exit_code = 1


class DemoInterrupted(DemoError, KeyboardInterrupt):
    """Ctrl-C stopped the demo; the message says how many calls were made.

    Also a KeyboardInterrupt, so a caller that stops on Ctrl-C (``claudescope up --demo``) does.
    """

    exit_code = 130  # the shell's code for a process ended by SIGINT


class _StopRequest:
    """Set from the SIGINT handler: a plain flag, since a handler that takes a lock can deadlock
    against the interrupted code holding it."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def _ctrl_c() -> Iterator[_StopRequest]:
    """The first Ctrl-C requests a stop (the day ends after the calls in flight); a second one
    interrupts at once. Catching SIGINT this way keeps the KeyboardInterrupt from landing in a
    random frame (an SDK ``__del__`` swallowed it, and the day went on)."""
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def check_collector(endpoint: str, headers: dict[str, str]) -> None:
    """Fail fast, with a clear message, when no collector answers at ``endpoint``."""
    _probe(endpoint.rstrip("/") + "/healthz", headers, "claudescope collector",
           "`claudescope collector` (or `claudescope up`), or pass --endpoint")


def check_fake_api(url: str) -> None:
    """Fail fast, with a clear message, when no bundled fake API answers at ``url``."""
    _probe(url.rstrip("/") + "/v1/fake/billing", {}, "claudescope fake API", "`python -m claudescope.fakeapi --port PORT`")


def _probe(url: str, headers: dict[str, str], what: str, start_with: str) -> None:
    """Return when ``url`` answers 200; else a DemoError naming ``what`` and how to start one."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as answer:
            if answer.status == 200:
                return
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DemoError(f"no {what} answers at {url} ({reason}); start one with {start_with}") from None
    raise DemoError(f"the {what.removeprefix('claudescope ')} at {url} is not ready")


@contextlib.contextmanager
def _api(live_api_key: str | None, seed: int, calls: int, fake_api: str | None = None) -> Iterator[str | None]:
    """The base URL to call: the in-process fake API, or None (the SDK's default) when live.

    The fake's rate limits are sized to the day (:func:`rate_limits`); the demo sends each
    call's simulated time (``x-fake-now``), so the limits are measured on the demo's clock.
    """
    if live_api_key:
        yield None
        return
    if fake_api:
        yield fake_api.rstrip("/")
        return
    from claudescope.fakeapi.server import ServerThread
    from claudescope.fakeapi.app import create_fake_api

    app = create_fake_api(seed, latency_scale=DEMO_LATENCY_SCALE, **rate_limits(calls))
    with ServerThread(app, log_level="error") as server:
        yield server.base_url


@contextlib.contextmanager
def _telemetry(
    endpoint: str, headers: dict[str, str], exporter: Any, stretch: float
) -> Iterator[tuple[SimulatedClock, TimeShiftExporter]]:
    """Instrument the SDK into a demo-owned TracerProvider whose exporter shifts spans in time."""
    import claudescope.instrument as cs
    from opentelemetry.sdk.resources import SERVICE_NAME as RESOURCE_SERVICE_NAME
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers, timeout=10)
    clock = SimulatedClock()
    shift = TimeShiftProcessor(clock)
    provider = TracerProvider(resource=Resource.create({RESOURCE_SERVICE_NAME: SERVICE_NAME}))
    provider.add_span_processor(shift)
    shifter = TimeShiftExporter(exporter, shift, stretch)
    provider.add_span_processor(BatchSpanProcessor(shifter, max_queue_size=20_000, schedule_delay_millis=500))
    # The demo owns this process's instrumentation: its provider must be the one in use.
    if cs.ClaudescopeInstrumentor().is_instrumented_by_opentelemetry:
        cs.uninstrument()
    cs.instrument(tracer_provider=provider)
    try:
        yield clock, shifter
        cs.flush()
    finally:
        cs.uninstrument()
        provider.shutdown()


def _client(base_url: str | None, api_key: str | None) -> Any:
    import anthropic  # built after instrument(), so the per-attempt middleware is installed

    return anthropic.Anthropic(base_url=base_url, api_key=api_key or "demo", max_retries=2)


def _check_live(client: Any) -> None:
    """One free count_tokens call before a live day, so a bad key or no network fails fast."""
    import anthropic

    try:
        client.with_options(max_retries=0).messages.count_tokens(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "claudescope demo pre-flight"}]
        )
    except (anthropic.AuthenticationError, anthropic.PermissionDeniedError, anthropic.APIConnectionError) as exc:
        raise DemoError(f"the Anthropic API refused the pre-flight call ({type(exc).__name__}: {exc})") from None


def _drive(plan: DayPlan, client: Any, clock: SimulatedClock, concurrency: int, console: Console, live: bool,
           stop: _StopRequest) -> Outcome:
    """Run the day's jobs; once a stop is requested, the calls not started yet are dropped."""
    total = Outcome()
    jobs: list[Any] = list(plan.calls)
    if plan.batch is not None and not live:  # a real batch can take hours to end
        jobs.append(plan.batch)
        jobs.sort(key=lambda j: j.at)
    columns = (TextColumn("[bold]simulated {task.fields[clock]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("calls"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress, ThreadPoolExecutor(max(1, concurrency)) as pool:
        # The bar counts the planned calls; the Message Batch is not one of them.
        task = progress.add_task("day", total=len(plan.calls), clock="--:--")
        futures = {pool.submit(_run_job, job, plan.seed, client, clock, live): job for job in jobs}
        pending: set[Future[Outcome]] = set(futures)
        latest = plan.start
        try:
            while pending:
                if stop.requested:
                    for future in pending:
                        future.cancel()
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in (f for f in done if not f.cancelled()):
                    job = futures[future]
                    _add(total, future.result())
                    latest = max(latest, job.at)
                    progress.update(task, advance=int(isinstance(job, PlannedCall)), clock=f"{latest:%H:%M} UTC")
        except BaseException:
            # A second Ctrl-C: drop the calls not started yet instead of waiting for the whole day.
            for future in futures:
                future.cancel()
            raise
    return total


def _add(total: Outcome, outcome: Outcome) -> None:
    total.ok += outcome.ok
    total.errors.update(outcome.errors)
    total.retries += outcome.retries
    total.usage.update(outcome.usage)


def _run_job(job: PlannedCall | PlannedBatch, seed: int, client: Any, clock: SimulatedClock, live: bool) -> Outcome:
    with clock.at(job.at):
        if isinstance(job, PlannedBatch):
            return run_batch(job, seed, client, live, BATCH_TIMEOUT_S)
        headers = {} if live else _fake_headers(job)
        return run_call(job, request_params(job, seed), client, headers)


def _fake_headers(call: PlannedCall) -> dict[str, str]:
    headers = {
        "x-fake-retry-after": f"{RETRY_AFTER_S}",
        "x-fake-output-median": str(output_median(call)),
        "x-fake-now": f"{call.at.timestamp():.3f}",
    }
    if call.script:
        headers["x-fake-script"] = call.script
    return headers
