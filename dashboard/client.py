"""HTTP client for the collector's read-only query API (one or several shards).

The dashboard never opens DuckDB itself (the collector is the single writer): every number it
shows comes from ``POST {api}/api/v1/query`` answered as an Arrow IPC stream, which keeps
DECIMAL money exact and timestamps typed.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.ipc

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class QueryError(RuntimeError):
    """A query could not be answered: collector unreachable, refused, or the SQL failed."""


@dataclass(frozen=True, slots=True)
class QueryClient:
    """Runs SQL on every collector shard and returns one Arrow table per shard."""

    urls: tuple[str, ...]
    token: str | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_api(cls, api: str, *, token: str | None = None, timeout_s: float = 30.0) -> QueryClient:
        """Build a client from ``--api``: one base URL or a comma-separated list of shards."""
        urls = tuple(u.strip().rstrip("/") for u in api.split(",") if u.strip())
        if not urls:
            raise QueryError("no collector URL given (--api)")
        return cls(urls=urls, token=token, timeout_s=timeout_s)

    @property
    def cache_key(self) -> str:
        """Identifies what this client can see (shards + a digest of the token) for result caches."""
        digest = hashlib.sha256((self.token or "").encode()).hexdigest()[:16]
        return f"{','.join(self.urls)}#{digest}"

    def query(self, sql: str) -> list[pa.Table]:
        """Run ``sql`` on every shard (in parallel) and return their answers in shard order."""
        if len(self.urls) == 1:
            return [self._query_one(self.urls[0], sql)]
        with ThreadPoolExecutor(max_workers=min(8, len(self.urls))) as pool:
            return list(pool.map(lambda url: self._query_one(url, sql), self.urls))

    def _query_one(self, base_url: str, sql: str) -> pa.Table:
        request = urllib.request.Request(
            base_url + "/api/v1/query",
            data=json.dumps({"sql": sql}).encode(),
            headers=self._headers(),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise QueryError(_http_problem(base_url, exc)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise QueryError(f"cannot reach the collector at {base_url}: {reason}") from None
        return pyarrow.ipc.open_stream(body).read_all()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": ARROW_STREAM}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def _http_problem(base_url: str, exc: urllib.error.HTTPError) -> str:
    if exc.code == 401:
        return f"the collector at {base_url} refused the token (401): set CLAUDESCOPE_TOKEN"
    try:
        detail = exc.read().decode("utf-8", "replace")[:500]
    except OSError:
        detail = ""
    return f"the collector at {base_url} answered {exc.code}: {detail}"
