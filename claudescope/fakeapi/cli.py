"""``python -m claudescope.fakeapi``: serve the fake Anthropic API in the foreground.

Prints its base URL, then serves until Ctrl-C (manual runs, the demo's ``--fake-api``,
out-of-process tests). Billing injections (syntax in :mod:`claudescope.fakeapi.billing`)::

    python -m claudescope.fakeapi --port 8765 \\
        --bill-untraced 2026-12-01:claude-sonnet-4-6:input=50000,output=8000 \\
        --bill-untraced 2026-12-01:claude-haiku-4-5:wrkspc_batch:input=9000,output=100 \\
        --bill-price claude-sonnet-4-6:cache_read=0.50 \\
        --spend-limit organization:monthly:500 --spend-limit wrkspc_x:daily:20

Any ``sk-ant-admin...`` key reads its Admin API. A malformed injection is a one-line usage
error (exit 2).
"""

from __future__ import annotations

import argparse
import time

from claudescope.fakeapi.app import create_fake_api
from claudescope.fakeapi.billing import BillingConfig, BillingError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m claudescope.fakeapi",
                                     description="Serve the bundled fake Anthropic API and print its base URL.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-scale", type=float, default=0.01)
    parser.add_argument("--bill-untraced", action="append", default=[], metavar="DAY:MODEL[:WORKSPACE]:input=N,output=N",
                        help="bill usage no traced call made (as an uninstrumented service would)")
    parser.add_argument("--bill-price", action="append", default=[], metavar="MODEL:KEY=USD_PER_MTOK[,...]",
                        help="bill MODEL at another price (keys: input, output, cache_write_5m, cache_write_1h, cache_read)")
    parser.add_argument("--spend-limit", action="append", default=[], metavar="SCOPE:PERIOD:USD",
                        help="a spend limit to report (SCOPE organization or wrkspc_...; PERIOD daily|weekly|monthly)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, build the fake and serve it until Ctrl-C."""
    from claudescope.fakeapi.server import ServerThread

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        billing = BillingConfig.parse(args.bill_untraced, args.bill_price, args.spend_limit)
        app = create_fake_api(args.seed, latency_scale=args.latency_scale, billing=billing)
    except BillingError as exc:
        parser.error(str(exc))
    with ServerThread(app, host=args.host, port=args.port) as server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
