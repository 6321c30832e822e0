"""Feast's own HTTP feature server, with the served features logged (`serve`).

The app is ``feast.feature_server.get_app(store)``, the one ``feast serve`` runs, wrapped in an
ASGI hook: each successful ``/get-online-features`` response is handed, with its request, to a
`ServedFeatureLog` before its last byte is sent, so every response a client has received is in
the log's queue. The hook adds an ``x-request-id`` header (the log's ``__request_id``) and
answers ``GET /health`` with Feast's status code and the log's counters as JSON.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._errors import SkewcheckInputError
from ._serve_log import DEFAULT_FLUSH_ROWS, DEFAULT_FLUSH_SECONDS, ServedFeatureLog

ONLINE_FEATURES_PATH = "/get-online-features"
HEALTH_PATH = "/health"
FEAST_DEFAULT_PORT = 6566  # feast serve's default
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class LoggingMiddleware:
    """ASGI middleware that logs what ``/get-online-features`` served (see the module docstring)."""

    def __init__(self, app: Any, log: ServedFeatureLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] == ONLINE_FEATURES_PATH and scope["method"] == "POST":
            await self._logged(scope, receive, send)
        elif scope["path"] == HEALTH_PATH and scope["method"] == "GET":
            await self._health(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _logged(self, scope, receive, send) -> None:
        log_time = datetime.now(timezone.utc)
        request_id = uuid.uuid4().hex
        request_body, response_body, status = [], [], [0]

        async def receive_and_keep():
            message = await receive()
            if message["type"] == "http.request":
                request_body.append(message.get("body", b""))
            return message

        async def keep_and_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            elif message["type"] == "http.response.body" and status[0] == 200:
                response_body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.log.submit(b"".join(request_body), b"".join(response_body), request_id, log_time)
            await send(message)

        await self.app(scope, receive_and_keep, keep_and_send)

    async def _health(self, scope, receive, send) -> None:
        status = [503]

        async def keep_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]

        await self.app(scope, receive, keep_status)
        body = json.dumps(
            {
                "status": "ok" if status[0] == 200 else "unavailable",
                "served_feature_log": self.log.health(),
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status[0], "headers": headers})
        await send({"type": "http.response.body", "body": body})


def serve(
    repo: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = FEAST_DEFAULT_PORT,
    log_dir: str | Path | None = None,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    sample_rate: float | None = None,
) -> dict[str, Any]:
    """Serve a Feast repository over HTTP, as ``feast serve`` does, logging every response.

    Runs until SIGTERM or Ctrl-C, then finishes the requests in flight, writes every buffered
    row and returns the log's final counters. ``port=0`` picks a free port; the address is
    printed on stderr (``serving http://HOST:PORT``) before the first request is accepted.
    See `ServedFeatureLog` for `log_dir`, the flush bounds and `sample_rate`.
    """
    import uvicorn
    from feast import FeatureStore
    from feast.feature_server import get_app
    from feast.permissions.server.utils import (
        ServerType,
        init_auth_manager,
        init_security_manager,
        str_to_auth_manager_type,
    )

    if not (Path(repo) / "feature_store.yaml").is_file():
        raise SkewcheckInputError(f"{repo}: not a Feast feature repository (no feature_store.yaml in it)")
    try:
        listener = socket.create_server((host, port))
    except OSError as exc:
        raise SkewcheckInputError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port"
        ) from None
    bound_port = listener.getsockname()[1]
    store = FeatureStore(repo_path=str(repo))
    auth_type = str_to_auth_manager_type(store.config.auth_config.type)  # as feast.feature_server.start_server
    init_security_manager(auth_type=auth_type, fs=store)
    init_auth_manager(auth_type=auth_type, server_type=ServerType.REST, auth_config=store.config.auth_config)
    log = ServedFeatureLog(
        store, log_dir=log_dir, flush_rows=flush_rows, flush_seconds=flush_seconds, sample_rate=sample_rate
    )
    server = uvicorn.Server(
        uvicorn.Config(LoggingMiddleware(get_app(store), log), log_level="warning", access_log=False)
    )
    target = f"{log_dir}/<feature service>" if log_dir else "each feature service's FileLoggingDestination"
    print(
        f"skewcheck feast serve: serving http://{host}:{bound_port}, logging to {target} "
        f"(a file every {flush_rows} rows or {flush_seconds:g} s)",
        file=sys.stderr,
        flush=True,
    )
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler it found:
    # this one only notes it, so the log is written before the process exits.
    stopped_by: list[int] = []
    previous = {sig: signal.signal(sig, lambda sig, frame: stopped_by.append(sig)) for sig in STOP_SIGNALS}
    try:
        server.run(sockets=[listener])
    finally:
        final = log.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print(
            f"skewcheck feast serve: stopped; {final['rows_written']} rows logged in {final['files_written']} "
            f"files, {final['rows_lost']} lost",
            file=sys.stderr,
            flush=True,
        )
    return final
