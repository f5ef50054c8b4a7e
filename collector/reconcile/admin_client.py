"""A reader of Anthropic's Admin API: the cost report, the messages usage report, spend limits.

Follows the public schemas (platform.claude.com/docs/en/api/admin/cost_report, .../usage_report,
and the SDK's ``beta.organization.spend_limits``): daily buckets, ``group_by[]`` repeated,
pages followed through ``has_more`` / ``next_page``. The admin key goes into the ``x-api-key``
header of each request and nowhere else: an error names the endpoint and Anthropic's message,
never the key or the request headers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx

from claudescope.config import AdminKey

__all__ = ["AdminApi", "AdminApiError", "one_line"]

ANTHROPIC_VERSION = "2023-06-01"
SPEND_LIMITS_BETA = "spend-limit-reads-2026-09-26"
MAX_PAGES = 1000  # a server that never stops saying has_more must not hold us forever


class AdminApiError(RuntimeError):
    """The Admin API could not be read; the message is one line, safe to print and store."""


class AdminApi:
    """Read-only client of the Admin API at ``base_url`` with ``key``."""

    def __init__(self, base_url: str, key: AdminKey, *, timeout_s: float = 60.0) -> None:
        self._base = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout_s

    def cost_report(self, starting_at: datetime, ending_at: datetime, group_by: Sequence[str] = ("description",)) -> list[dict[str, Any]]:
        """Every daily bucket of ``GET /v1/organizations/cost_report`` in [starting_at, ending_at)."""
        params: list[tuple[str, str]] = [("starting_at", _rfc3339(starting_at)), ("ending_at", _rfc3339(ending_at)),
                                         ("bucket_width", "1d"), ("limit", "31")]
        params += [("group_by[]", g) for g in group_by]
        return list(self._buckets("/v1/organizations/cost_report", params))

    def usage_report(self, starting_at: datetime, ending_at: datetime, group_by: Sequence[str] = ("model",)) -> list[dict[str, Any]]:
        """Every daily bucket of ``GET /v1/organizations/usage_report/messages`` in [starting_at, ending_at)."""
        params: list[tuple[str, str]] = [("starting_at", _rfc3339(starting_at)), ("ending_at", _rfc3339(ending_at)),
                                         ("bucket_width", "1d"), ("limit", "31")]
        params += [("group_by[]", g) for g in group_by]
        return list(self._buckets("/v1/organizations/usage_report/messages", params))

    def spend_limits(self) -> list[dict[str, Any]]:
        """Every configured spend limit (``GET /v1/organizations/spend_limits``, beta)."""
        return list(self._buckets("/v1/organizations/spend_limits", [("limit", "100")], beta=SPEND_LIMITS_BETA))

    def _buckets(self, path: str, params: list[tuple[str, str]], *, beta: str | None = None) -> Iterator[dict[str, Any]]:
        """The ``data`` items of every page of ``path``."""
        page: str | None = None
        with httpx.Client(base_url=self._base, timeout=self._timeout, headers=self._headers(beta)) as client:
            for _ in range(MAX_PAGES):
                body = self._get(client, path, params + ([("page", page)] if page else []))
                yield from body["data"]
                if not body.get("has_more"):
                    return
                page = body.get("next_page")
                if not page:
                    raise AdminApiError(f"Admin API {path}: has_more without next_page")
        raise AdminApiError(f"Admin API {path}: more than {MAX_PAGES} pages; narrow --since")

    def _headers(self, beta: str | None) -> dict[str, str]:
        headers = {"x-api-key": self._key.reveal(), "anthropic-version": ANTHROPIC_VERSION}
        if beta:
            headers["anthropic-beta"] = beta
        return headers

    def _get(self, client: httpx.Client, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        try:
            response = client.get(path, params=params)
        except httpx.HTTPError as exc:
            # str(exc) of a transport error names the URL at most; never headers.
            raise AdminApiError(f"Admin API {self._base}{path}: cannot connect ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise AdminApiError(f"Admin API {path} answered {response.status_code}: {_message(response)}")
        try:
            body = response.json()
        except ValueError:
            raise AdminApiError(f"Admin API {path}: the answer is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise AdminApiError(f"Admin API {path}: the answer has no data list")
        return body


def _message(response: httpx.Response) -> str:
    """Anthropic's error message (``{"error": {"type", "message"}}``), one line, bounded."""
    try:
        error = response.json().get("error") or {}
        text = f"{error.get('type', 'error')}: {error.get('message', '')}"
    except (ValueError, AttributeError):
        text = response.text
    return one_line(text, 300)


def one_line(value: object, limit: int = 500) -> str:
    """``value``'s text on one line, at most ``limit`` characters (an exception without text: its class name)."""
    text = " ".join(str(value).split())[:limit]
    return text or (type(value).__name__ if isinstance(value, BaseException) else "")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
