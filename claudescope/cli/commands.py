"""The ``claudescope`` command (SPEC §3).

Each command resolves the configuration once (file < env < flags) and hands it to the
component that does the work. Components are imported lazily so that the bare install
(instrumentation only) still runs ``claudescope run`` and ``claudescope --help``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from claudescope.config import Config, ConfigError, load_config
from claudescope.logs import configure_logging
from claudescope.cli.preflight import server_problem

app = typer.Typer(
    help="Exact cost, caching, latency and reliability observability for Claude API calls.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
alerts_app = typer.Typer(help="Alert engine utilities.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

# soft_wrap: a one-line message stays one line on a narrow terminal or in a pipe.
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DataOpt = Annotated[Optional[Path], typer.Option("--data", help="Data directory (default ./claudescope-data).")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="Config file (default ./claudescope.toml).")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="Bind address (default 127.0.0.1).")]
PortOpt = Annotated[Optional[int], typer.Option("--port", help="OTLP/HTTP and API port (default 4318).")]
ApiOpt = Annotated[Optional[str], typer.Option("--api", help="Collector base URL (default from config).")]


def _config(config_file: Path | None, **overrides: Any) -> Config:
    try:
        return load_config(config_file, env=os.environ, overrides=overrides)
    except ConfigError as exc:
        console.print(f"[bold red]config error:[/] {escape(str(exc))}")  # messages quote [tables]
        raise typer.Exit(2) from None


def _show_version(value: bool) -> None:
    if not value:
        return
    try:
        out.print(f"claudescope {version('claudescope')}")
    except PackageNotFoundError:
        console.print("claudescope is not installed as a distribution (no version metadata)")
        raise typer.Exit(1) from None
    raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the installed version and exit.")
    ] = False,
) -> None:
    """Exact cost, caching, latency and reliability observability for Claude API calls."""


def _refuse(problem: str | None) -> None:
    """Exit 1 with one line when a start-up check found a problem."""
    if problem:
        console.print(f"[bold red]cannot start[/]: {escape(problem)}")
        raise typer.Exit(1)


def _interruptible(job: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """Run an admin job; Ctrl-C is one line and exit code 130, not a traceback."""
    try:
        return job(*args, **kwargs)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: the command did not finish; run it again to complete it")
        return 130


def _server_import(module: str, name: str) -> Any:
    """``from module import name`` for a command that needs the server extra.

    When a dependency is missing: one line naming it and exit 3, not a traceback.
    """
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        console.print(
            f"[bold red]{exc.name or exc}[/] is not installed: this command needs the server extra "
            "(pip install 'claudescope\\[server]')."  # \\[ : rich would eat [server] as markup
        )
        raise typer.Exit(3) from None


@app.command()
def collector(
    data: DataOpt = None,
    config: ConfigOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    grpc_port: Annotated[Optional[int], typer.Option("--grpc-port", help="OTLP/gRPC port, 0 = off.")] = None,
    no_alerts: Annotated[bool, typer.Option("--no-alerts", help="Do not run the alert engine.")] = False,
) -> None:
    """Run the OTLP collector, store, query API and alert engine."""
    cfg = _config(config, data_dir=data, host=host, port=port, grpc_port=grpc_port)
    configure_logging(cfg.log_format)
    _refuse(server_problem(cfg.host, {"port": cfg.port, "grpc_port": cfg.grpc_port}, cfg.data_dir, cfg.db_path))
    run_collector = _server_import("claudescope.collector.service", "run_collector")
    try:
        run_collector(cfg, with_alerts=not no_alerts)
    except OSError as exc:  # a port taken between the check above and the bind
        _refuse(f"{exc.strerror or exc} (OTLP/HTTP port {cfg.port}: --port; OTLP/gRPC port {cfg.grpc_port}: --grpc-port)")


@app.command()
def dashboard(
    api: ApiOpt = None,
    config: ConfigOpt = None,
    host: HostOpt = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Dashboard port (default 8501).")] = None,
) -> None:
    """Run the Streamlit dashboard against a collector's query API."""
    cfg = _config(config, host=host, dashboard_port=port)
    run_dashboard = _server_import("claudescope.dashboard.launch", "run_dashboard")
    raise typer.Exit(run_dashboard(api or cfg.api_url, config=cfg))


@app.command()
def up(
    data: DataOpt = None,
    config: ConfigOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    grpc_port: Annotated[Optional[int], typer.Option("--grpc-port", help="OTLP/gRPC port, 0 = off.")] = None,
    dashboard_port: Annotated[Optional[int], typer.Option("--dashboard-port", help="Dashboard port.")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Start in the background and return.")] = False,
    with_demo: Annotated[bool, typer.Option("--demo", help="Once up, drive a day of demo traffic into it.")] = False,
    demo_calls: Annotated[int, typer.Option("--demo-calls", help="Calls the demo day makes.")] = 3000,
) -> None:
    """Run collector + alert engine + dashboard on one data dir (Ctrl-C stops all)."""
    cfg = _config(config, data_dir=data, host=host, port=port, grpc_port=grpc_port, dashboard_port=dashboard_port)
    from claudescope.cli.supervisor import run_up

    raise typer.Exit(run_up(cfg, detach=detach, console=console, demo_calls=demo_calls if with_demo else 0))


@app.command()
def status(data: DataOpt = None, config: ConfigOpt = None) -> None:
    """Show whether a `claudescope up` (detached or in the foreground) is running, and where."""
    from claudescope.cli.supervisor import show_status

    raise typer.Exit(show_status(_config(config, data_dir=data), console=out))


@app.command()
def stop(data: DataOpt = None, config: ConfigOpt = None) -> None:
    """Stop a `claudescope up` (detached, or in the foreground as Ctrl-C would)."""
    from claudescope.cli.supervisor import stop_detached

    raise typer.Exit(stop_detached(_config(config, data_dir=data), console=console))


@app.command()
def demo(
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", help="Collector OTLP/HTTP base URL.")] = None,
    calls: Annotated[int, typer.Option("--calls", help="How many calls the simulated day makes.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Scenario seed (same seed, same day).")] = 7,
    live: Annotated[bool, typer.Option("--live", help="Call the real API (needs ANTHROPIC_API_KEY).")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Parallel callers.")] = 8,
    fake_api: Annotated[Optional[str], typer.Option("--fake-api", help="Drive this running fake API (python -m claudescope.fakeapi) instead of starting one.")] = None,
    untraced_calls: Annotated[int, typer.Option("--untraced-calls", min=0, help="Extra calls billed by the fake API but never traced.")] = 0,
    config: ConfigOpt = None,
) -> None:
    """Drive a realistic day of Claude traffic through the real SDK, instrumented."""
    cfg = _config(config)
    run_demo = _server_import("claudescope.demo", "run_demo")
    api_key = os.environ.get("ANTHROPIC_API_KEY") if live else None
    if live and not api_key:
        console.print("[bold red]--live needs ANTHROPIC_API_KEY[/]")
        raise typer.Exit(2)
    from claudescope.demo import DemoError

    try:
        summary = run_demo(
            endpoint=endpoint or cfg.api_url,
            calls=calls,
            seed=seed,
            live_api_key=api_key,
            concurrency=concurrency,
            console=console,
            token=cfg.token,
            fake_api=fake_api,
            untraced_calls=untraced_calls,
        )
    except DemoError as exc:
        console.print(f"[bold red]demo:[/] {exc}")
        raise typer.Exit(exc.exit_code) from None  # 130 when interrupted by Ctrl-C
    out.print(summary)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A single SELECT / WITH statement.")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    api: ApiOpt = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Read-only SQL against the store, printed as a table."""
    cfg = _config(config, data_dir=data)
    run_sql = _server_import("claudescope.collector.sqlcli", "run_sql")
    raise typer.Exit(_interruptible(run_sql, query, fmt=fmt, api_url=api, config=cfg, out=out, err=console))


@app.command()
def prices(
    model: Annotated[Optional[str], typer.Argument(help="Show one model (any id form), with its prices by date.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Show the price table (built-in plus overrides from claudescope.toml)."""
    cfg = _config(config)
    from claudescope.cli.prices import render_prices as print_prices

    raise typer.Exit(print_prices(cfg.pricing, model=model, out=out))


@app.command()
def reprice(
    since: Annotated[Optional[str], typer.Option("--since", help="Only calls on or after this date/time (UTC).")] = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    api: ApiOpt = None,
) -> None:
    """Recompute stored costs with the current price table and report the difference."""
    cfg = _config(config, data_dir=data)
    do_reprice = _server_import("claudescope.collector.admin", "reprice")
    raise typer.Exit(_interruptible(do_reprice, cfg, since=since, api_url=api, out=out))


@app.command()
def reconcile(
    since: Annotated[Optional[str], typer.Option("--since", help="First UTC day (YYYY-MM-DD); default: lookback_days ago.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Last UTC day (YYYY-MM-DD); default: today (not final).")] = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    api: ApiOpt = None,
) -> None:
    """Compare stored cost and tokens with Anthropic's Usage & Cost Admin API, per day and model.

    The admin key is read only from ANTHROPIC_ADMIN_API_KEY; it never leaves this process.
    """
    cfg = _config(config, data_dir=data)
    run_reconcile = _server_import("claudescope.collector.reconcile.command", "run_reconcile")
    raise typer.Exit(_interruptible(run_reconcile, cfg, since=since, until=until, api_url=api, out=out, err=console))


@app.command()
def export(
    parquet: Annotated[Path, typer.Option("--parquet", help="Target directory (hive-partitioned by date).")],
    data: DataOpt = None,
    config: ConfigOpt = None,
    api: ApiOpt = None,
) -> None:
    """Write a hive-partitioned Parquet copy of the store for other engines."""
    cfg = _config(config, data_dir=data)
    export_parquet = _server_import("claudescope.collector.admin", "export_parquet")
    raise typer.Exit(_interruptible(export_parquet, cfg, parquet, api_url=api, out=out))


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="Directory to write the backup into.")],
    data: DataOpt = None,
    config: ConfigOpt = None,
    api: ApiOpt = None,
) -> None:
    """Consistent backup of the store, safe while ingest runs."""
    cfg = _config(config, data_dir=data)
    do_backup = _server_import("claudescope.collector.admin", "backup")
    raise typer.Exit(_interruptible(do_backup, cfg, target, api_url=api, out=out))


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A directory written by `claudescope backup`.")],
    data: DataOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Restore a backup into the data directory (the collector must be stopped)."""
    cfg = _config(config, data_dir=data)
    do_restore = _server_import("claudescope.collector.admin", "restore")
    raise typer.Exit(do_restore(cfg, source, out=out))


@alerts_app.command("test")
def alerts_test(config: ConfigOpt = None) -> None:
    """Send a test notification to every configured channel and report each result."""
    cfg = _config(config)
    send_test = _server_import("claudescope.alerts.delivery", "send_test")
    raise typer.Exit(send_test(cfg, out=out))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", help="Collector OTLP/HTTP base URL.")] = None,
    service_name: Annotated[Optional[str], typer.Option("--service-name", help="OTel service.name.")] = None,
) -> None:
    """Run a Python program with Claude calls instrumented: claudescope run -- python app.py."""
    from claudescope.instrument.launcher import run_instrumented

    if not ctx.args:
        console.print("usage: claudescope run [--endpoint URL] -- python app.py ...")
        raise typer.Exit(2)
    cfg = _config(None)
    raise typer.Exit(
        run_instrumented(list(ctx.args), endpoint=endpoint or cfg.api_url, service_name=service_name, env=os.environ)
    )


def main() -> None:
    """Console entry point."""
    app(prog_name="claudescope")


if __name__ == "__main__":
    main()
    sys.exit(0)
