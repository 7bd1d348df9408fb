"""`trademl gate serve`: the gate over HTTP/1.1 keep-alive, JSON in and out, for bots in any language.

The standard library's ThreadingHTTPServer with ``protocol_version = "HTTP/1.1"``: a bot keeps one
connection open and pays one loopback round trip a call, with nothing to install beyond numpy and
onnxruntime (the runtime's own needs). TCP_NODELAY is set on every connection, or Nagle's
algorithm would hold each small answer for the client's delayed ACK (40 ms on Linux).

Endpoints: ``POST /v1/approve`` ``{"features": [tick_ratio, depth_ratio, price_dist],
"threshold": 0.65}`` → ``{"proba", "approve", "model"}``; ``POST /v1/approve/batch``
``{"rows": [[...], ...]}`` → lists; ``GET /health`` → the model version. Bad requests get a 4xx
and ``{"error": ...}``; the connection and the server carry on. A watcher thread polls the
registry's champion pointer and swaps in a freshly loaded gate when it changes: requests in
flight finish on the gate they started with, so no request fails during a swap.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from trademl.gate.runtime import (
    DEFAULT_THRESHOLD,
    FEATURES,
    Gate,
    GateInputError,
    resolve_model_file,
)

log = logging.getLogger("trademl.gate.server")

MAX_BODY_BYTES = 16 * 2**20
MAX_BATCH_ROWS = 250_000


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _threshold(body: dict) -> float:
    value = body.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(422, f"threshold must be a finite number, got {value!r}")
    return float(value)


def _row(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or len(value) != len(FEATURES):
        got = f"{len(value)} values" if isinstance(value, list) else type(value).__name__
        raise RequestError(
            422,
            f"{where} must be a list of {len(FEATURES)} numbers ({', '.join(FEATURES)}); got {got}",
        )
    for name, v in zip(FEATURES, value, strict=True):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RequestError(422, f"{where}: {name} must be a number, got {v!r}")
        try:
            finite = math.isfinite(float(v))
        except OverflowError:  # an integer beyond float range
            finite = False
        if not finite:
            raise RequestError(422, f"{where}: {name} is not a finite number")
    return value


def _parse(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "body is not UTF-8") from None
    except ValueError as exc:
        raise RequestError(400, f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError(422, f"body must be a JSON object, got {type(body).__name__}")
    return body


def answer_one(gate: Gate, raw: bytes) -> dict:
    """The answer to one /v1/approve body; RequestError for a bad one."""
    body = _parse(raw)
    if "features" not in body:
        raise RequestError(422, 'missing "features": [tick_ratio, depth_ratio, price_dist]')
    row = _row(body["features"], "features")
    threshold = _threshold(body)
    proba, approved = gate.approve_many([row], threshold)
    return {"proba": float(proba[0]), "approve": bool(approved[0]), "model": gate.version}


def answer_batch(gate: Gate, raw: bytes) -> dict:
    body = _parse(raw)
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows:
        raise RequestError(
            422, 'missing "rows": a non-empty list of [tick_ratio, depth_ratio, price_dist]'
        )
    if len(rows) > MAX_BATCH_ROWS:
        raise RequestError(413, f"{len(rows):,} rows in one batch; at most {MAX_BATCH_ROWS:,}")
    for i, row in enumerate(rows):
        _row(row, f"rows[{i}]")
    threshold = _threshold(body)
    try:
        proba, approved = gate.approve_many(rows, threshold)
    except GateInputError as exc:
        raise RequestError(422, str(exc)) from None
    return {"proba": proba.tolist(), "approve": approved.tolist(), "model": gate.version}


class GateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "trademl-gate"
    #: A connection idle (or a body stalled) this long is closed: a stuck client cannot pin a thread.
    timeout = 120
    server: GateServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise RequestError(411, "send a Content-Length (chunked bodies are not accepted)")
        if length is None:
            raise RequestError(411, "Content-Length required")
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            raise RequestError(400, f"bad Content-Length {length!r}") from None
        if n < 0:
            self.close_connection = True
            raise RequestError(400, f"bad Content-Length {length!r}")
        if n > self.server.max_body:
            # The body is not read: the connection cannot be reused after it.
            self.close_connection = True
            raise RequestError(413, f"body of {n:,} bytes; at most {self.server.max_body:,}")
        return self.rfile.read(n)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.split("?")[0] != "/health":
            self._send(404, {"error": f"no such endpoint GET {self.path}; try GET /health"})
            return
        gate = self.server.gate
        self._send(
            200,
            {
                "status": "ok",
                "model": gate.version,
                "source": gate.source,
                "features": list(FEATURES),
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?")[0]
        try:
            raw = self._body()
            handler = {"/v1/approve": answer_one, "/v1/approve/batch": answer_batch}.get(path)
            if handler is None:
                raise RequestError(
                    404, f"no such endpoint POST {path}; use /v1/approve or /v1/approve/batch"
                )
            self._send(200, handler(self.server.gate, raw))
        except RequestError as exc:
            self._send(exc.status, {"error": str(exc)})

    def _not_allowed(self) -> None:
        self._send(405, {"error": f"{self.command} not allowed; POST /v1/approve, GET /health"})

    do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


class GateServer(ThreadingHTTPServer):
    """Serves ``model`` (a registry root, version folder or model.onnx) and follows its champion."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        model: str | Path | None,
        host: str = "127.0.0.1",
        port: int = 8765,
        reload_interval_s: float = 0.5,
        max_body: int = MAX_BODY_BYTES,
    ):
        self.model = model
        self.max_body = max_body
        self.gate = Gate.load(model)
        self._identity = self._current_identity()
        self._stop = threading.Event()
        self._interval = reload_interval_s
        super().__init__((host, port), GateHandler)
        self._watcher = threading.Thread(target=self._watch, name="gate-reload", daemon=True)
        self._watcher.start()

    def _current_identity(self) -> tuple | None:
        if self.model is None:
            return None
        try:
            path, version = resolve_model_file(self.model)
            return str(path), version, path.stat().st_mtime_ns
        except (FileNotFoundError, OSError):
            return None

    def reload_if_changed(self) -> bool:
        """Load and swap in the champion if it changed since the last look; True if swapped."""
        identity = self._current_identity()
        if identity == self._identity:
            return False
        gate = Gate.load(self.model)
        self.gate = gate  # one reference assignment: each request uses one gate throughout
        self._identity = identity
        log.info(f"trademl gate serve: now serving {gate.source}")
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.reload_if_changed()
            except Exception as exc:  # a half-copied registry must not kill the watcher
                log.warning(
                    f"trademl gate serve: reload check failed ({exc}); keeping {self.gate.source}"
                )

    def server_close(self) -> None:
        self._stop.set()
        super().server_close()


def serve(model, host: str = "127.0.0.1", port: int = 8765) -> None:
    server = GateServer(model, host, port)
    log.warning(
        f"trademl gate serve: {server.gate.source} on http://{host}:{server.server_address[1]}"
    )
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
