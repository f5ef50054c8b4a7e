"""Serve an ASGI app with uvicorn in a background thread (tests, the demo, webhook sinks).

``ServerThread`` binds its own socket first, so ``port=0`` gives a free port that is known
before the server starts, and returns from ``__enter__`` only once the port accepts
connections.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["ServerThread", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port that was free a moment ago (for servers that must bind it themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """Context manager running ``app`` on ``host:port`` in a daemon thread.

    >>> with ServerThread(app) as server:
    ...     httpx.get(server.base_url + "/healthz")
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
        log_level: str = "warning",
        **uvicorn_options: Any,
    ) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._log_level = log_level
        self._options = uvicorn_options
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port: int = port

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (no trailing slash)."""
        return f"http://{self._host}:{self.port}"

    def start(self) -> ServerThread:
        """Bind, start the thread and wait until the server is serving."""
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when
        # the listening socket says so, and without it every answer waits ~40 ms (Nagle +
        # delayed ACK).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._requested_port))
        sock.listen(2048)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app,
            log_level=self._log_level,
            lifespan=self._options.pop("lifespan", "auto"),
            access_log=False,
            timeout_graceful_shutdown=self._options.pop("timeout_graceful_shutdown", 2),
            **self._options,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"asgi-{self.port}", daemon=True
        )
        self._thread.start()
        self._wait_started()
        return self

    def _wait_started(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        assert self._server is not None and self._thread is not None
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"ASGI server on {self.base_url} exited during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"ASGI server on {self.base_url} did not start in time")
            time.sleep(0.005)

    def stop(self) -> None:
        """Ask uvicorn to exit and join its thread; idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive() and self._server is not None:
                # Open keep-alive or streaming connections can hold a graceful exit.
                self._server.force_exit = True
                self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._server = None
        self._thread = None
        self._sock = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
