"""Message Batches for the fake API: create, retrieve, list, cancel, delete, results (JSONL).

A batch is answered at creation (each request simulated on the ``batch`` service tier) and
stays ``in_progress`` for ``batch_seconds``, then ``ended``. Cancelling an in-progress batch
cancels every request; results are served only once the batch has ended. When a batch ends
without being cancelled, ``on_end`` gets it, once: the fake bills its succeeded results then.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from anthropic.types.messages import DeletedMessageBatch, MessageBatch, MessageBatchIndividualResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from claudescope.fakeapi.control import Controls, error_response, json_body_error, new_id, validate_messages_body

__all__ = ["BatchStore", "batch_routes"]

Answer = Callable[[dict[str, Any]], dict[str, Any]]  # request params -> Message JSON
OnEnd = Callable[["_Batch"], None]


@dataclass
class _Batch:
    id: str
    created: datetime
    ends_monotonic: float
    results: list[dict[str, Any]]
    cancel_initiated: datetime | None = None
    ended: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def refresh(self, now: float) -> bool:
        """Bring the status up to date; True when the batch has just ended uncancelled."""
        if self.ended is None and now >= self.ends_monotonic:
            self.ended = datetime.now(timezone.utc)
            if self.cancel_initiated is not None:
                self.results = [{"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in self.results]
                return False
            return True
        return False

    def status(self) -> str:
        if self.ended is not None:
            return "ended"
        return "canceling" if self.cancel_initiated else "in_progress"

    def json(self, base_url: str) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for item in self.results:
            counts[item["result"]["type"] if self.ended else "processing"] += 1
        data = {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status(),
            "request_counts": counts,
            "created_at": self.created,
            "expires_at": self.created + timedelta(hours=24),
            "ended_at": self.ended,
            "cancel_initiated_at": self.cancel_initiated,
            "archived_at": None,
            "results_url": f"{base_url}v1/messages/batches/{self.id}/results" if self.ended else None,
        }
        return MessageBatch.model_validate(data).model_dump(mode="json")


class BatchStore:
    """The batches of one fake API instance, newest last."""

    def __init__(self, batch_seconds: float, on_end: OnEnd | None = None) -> None:
        self._seconds = batch_seconds
        self._batches: dict[str, _Batch] = {}
        self._lock = threading.Lock()
        self._on_end = on_end

    def create(self, results: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> _Batch:
        """Store a batch whose per-request results are already known (``extra``: billing facts)."""
        batch = _Batch(new_id("msgbatch_"), datetime.now(timezone.utc), time.monotonic() + self._seconds, results,
                       extra=dict(extra or {}))
        with self._lock:
            self._batches[batch.id] = batch
        return batch

    def get(self, batch_id: str) -> _Batch | None:
        """The batch, its status brought up to date, or None."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is not None:
                self._refresh(batch, time.monotonic())
            return batch

    def all(self) -> list[_Batch]:
        """Every batch, newest first, statuses up to date."""
        with self._lock:
            now = time.monotonic()
            for batch in self._batches.values():
                self._refresh(batch, now)
            return list(reversed(self._batches.values()))

    def _refresh(self, batch: _Batch, now: float) -> None:
        if batch.refresh(now) and self._on_end is not None:
            self._on_end(batch)

    def delete(self, batch_id: str) -> None:
        """Forget a batch."""
        with self._lock:
            self._batches.pop(batch_id, None)


def _result_line(custom_id: str, params: Any, answer: Answer) -> dict[str, Any]:
    problem = validate_messages_body(params)
    if problem or (isinstance(params, dict) and params.get("stream")):
        reason = problem or "stream is not supported in batches"
        error = {"type": "error", "error": {"type": "invalid_request_error", "message": reason}, "request_id": None}
        result: dict[str, Any] = {"type": "errored", "error": error}
    else:
        result = {"type": "succeeded", "message": answer(params)}
    line = {"custom_id": custom_id, "result": result}
    return MessageBatchIndividualResponse.model_validate(line).model_dump(mode="json")


def batch_routes(
    store: BatchStore, wrap: Callable[..., Any], answer: Answer,
    billing_facts: Callable[[Request, Controls], dict[str, Any]] = lambda request, controls: {},
) -> list[Route]:
    """The batch routes; ``wrap`` adds the control protocol and common headers;
    ``billing_facts`` notes at creation what the batch's results are billed under."""

    async def create(state: Any, request: Request, controls: Controls, request_id: str) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return json_body_error(request_id, "requests: at least one request is required")
        ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            return json_body_error(request_id, "requests: every custom_id must be a unique non-empty string")
        results = [_result_line(r["custom_id"], r.get("params"), answer) for r in requests]
        batch = store.create(results, billing_facts(request, controls))
        return JSONResponse(batch.json(str(request.base_url)))

    async def retrieve(state: Any, request: Request, controls: Controls, request_id: str) -> Response:
        batch = store.get(request.path_params["batch_id"])
        if batch is None:
            return _not_found(request_id, request.path_params["batch_id"])
        if request.method == "DELETE":
            if batch.ended is None:
                return json_body_error(request_id, "a batch must end before it can be deleted")
            store.delete(batch.id)
            return JSONResponse(DeletedMessageBatch(id=batch.id, type="message_batch_deleted").model_dump(mode="json"))
        return JSONResponse(batch.json(str(request.base_url)))

    async def cancel(state: Any, request: Request, controls: Controls, request_id: str) -> Response:
        batch = store.get(request.path_params["batch_id"])
        if batch is None:
            return _not_found(request_id, request.path_params["batch_id"])
        if batch.ended is None and batch.cancel_initiated is None:
            batch.cancel_initiated = datetime.now(timezone.utc)
        return JSONResponse(batch.json(str(request.base_url)))

    async def results(state: Any, request: Request, controls: Controls, request_id: str) -> Response:
        batch = store.get(request.path_params["batch_id"])
        if batch is None:
            return _not_found(request_id, request.path_params["batch_id"])
        if batch.ended is None:
            return json_body_error(request_id, "batch results are available once processing has ended")
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in batch.results)
        return Response(lines, media_type="application/binary")

    async def listing(state: Any, request: Request, controls: Controls, request_id: str) -> Response:
        return JSONResponse(_page(store.all(), request))

    prefix = "/v1/messages/batches"
    return [
        Route(prefix, wrap(create), methods=["POST"]),
        Route(prefix, wrap(listing), methods=["GET"]),
        Route(prefix + "/{batch_id}", wrap(retrieve), methods=["GET", "DELETE"]),
        Route(prefix + "/{batch_id}/cancel", wrap(cancel), methods=["POST"]),
        Route(prefix + "/{batch_id}/results", wrap(results), methods=["GET"]),
    ]


def _page(batches: list[_Batch], request: Request) -> dict[str, Any]:
    params = request.query_params
    limit = max(1, min(1000, int(params.get("limit", "20") or 20)))
    ids = [b.id for b in batches]
    if params.get("after_id") in ids:
        batches = batches[ids.index(params["after_id"]) + 1 :]
    elif params.get("before_id") in ids:
        batches = batches[: ids.index(params["before_id"])][-limit:]
    page = batches[:limit]
    data = [b.json(str(request.base_url)) for b in page]
    return {
        "data": data,
        "has_more": len(batches) > limit,
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
    }


def _not_found(request_id: str, batch_id: str) -> Response:
    return error_response(404, "not_found_error", f"message batch {batch_id!r} not found", request_id)
