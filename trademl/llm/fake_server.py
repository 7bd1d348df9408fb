"""A local OpenAI-compatible chat server with scripted misbehaviour, for tests and benchmarks.

    with FakeLLMServer(script={"FLAKY": ["429", "ok"], "BROKEN": "500"}) as srv:
        endpoint = LLMEndpoint(base_url=srv.base_url, model="fake", api_key_env=None)

Answers are deterministic: the rule parser's reading of the message (or a small built-in
heuristic when ``trademl.signals.parser`` is not importable), with ``usage`` token counts.
Behaviours, chosen per request by message content (``script``) or by request number (``by_call``):

- ``ok``: a correct answer.          - ``429``: rate limited, with ``Retry-After``.
- ``500``: server error.             - ``slow``: sleeps ``slow_s`` (past a client timeout).
- ``malformed``: content is prose, not JSON.   - ``bad_schema``: JSON that fails the schema.
- ``garbage``: an HTML body instead of a JSON response.
- ``ungrounded``: a correct answer plus an entry price that is not in the message.
- ``injection``: obeys the message: the label it demands ("answer SIGNAL_LONG"), with its side.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BEHAVIOURS = (
    "ok",
    "429",
    "500",
    "slow",
    "malformed",
    "bad_schema",
    "garbage",
    "ungrounded",
    "injection",
)
_MESSAGE_RE = re.compile(r"<message>(.*)</message>", re.DOTALL)


class FakeLLMServer:
    """An OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1 (a free port).

    Args:
        latency_s: delay before every answer (simulates model time).
        script: message substring → behaviour for every request carrying it, or a sequence of
            behaviours for its 1st, 2nd, ... request (``ok`` once the sequence is used up).
        by_call: 1-based request number (server-wide) → behaviour; wins over ``script``.
        retry_after_s: the ``Retry-After`` value sent with 429.
        slow_s: how long ``slow`` sleeps.
        reject_response_format: answer 400 to requests carrying ``response_format``, like
            servers that do not support structured output.
    """

    def __init__(
        self,
        latency_s: float = 0.0,
        script: Mapping[str, str | Sequence[str]] | None = None,
        by_call: Mapping[int, str] | None = None,
        *,
        retry_after_s: float = 1.0,
        slow_s: float = 5.0,
        model: str = "fake-llm",
        reject_response_format: bool = False,
    ):
        for behaviour in [*(by_call or {}).values(), *_flatten((script or {}).values())]:
            if behaviour not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {behaviour!r}; expected one of {BEHAVIOURS}")
        self.latency_s = latency_s
        self.script = dict(script or {})
        self.by_call = dict(by_call or {})
        self.retry_after_s = retry_after_s
        self.slow_s = slow_s
        self.model = model
        self.reject_response_format = reject_response_format
        self.calls = 0
        self.behaviours: Counter[str] = Counter()  # behaviour → requests served with it
        self.calls_by_text: Counter[str] = Counter()  # message text → requests
        self.bodies: list[dict[str, Any]] = []  # every request body received
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started: use it as a context manager"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def calls_for(self, substring: str) -> int:
        """Requests received for messages containing ``substring``."""
        with self._lock:
            return sum(n for text, n in self.calls_by_text.items() if substring in text)

    def __enter__(self) -> FakeLLMServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # wakes handlers sleeping in latency or "slow"
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _choose(self, text: str) -> str:
        with self._lock:
            self.calls += 1
            self.calls_by_text[text] += 1
            behaviour = self.by_call.get(self.calls)
            if behaviour is None:
                behaviour = "ok"
                for key, plan in self.script.items():
                    if key in text:
                        if isinstance(plan, str):
                            behaviour = plan
                        else:
                            nth = sum(n for t, n in self.calls_by_text.items() if key in t)
                            behaviour = plan[nth - 1] if nth <= len(plan) else "ok"
                        break
            self.behaviours[behaviour] += 1
            return behaviour


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping in "slow" must not block shutdown
    request_queue_size = 128  # the default backlog of 5 drops connects from 16+ clients


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer
    protocol_version = "HTTP/1.1"  # keep-alive, like real API servers
    server_version = "FakeLLM/1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": self.fake.model, "object": "model"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
            prompt = "".join(m.get("content") or "" for m in body["messages"])
            user = body["messages"][-1]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            self._send(400, {"error": {"message": "body is not a chat-completions request"}})
            return
        match = _MESSAGE_RE.search(user)
        text = json.loads(match.group(1)) if match else user
        fake = self.fake
        with fake._lock:
            fake.bodies.append(body)
        if fake.reject_response_format and "response_format" in body:
            self._send(400, {"error": {"message": "response_format json_schema is not supported"}})
            return
        behaviour = fake._choose(text)
        if fake._stop.wait(fake.latency_s):
            return
        if behaviour == "429":
            self._send(
                429,
                {"error": {"message": "rate limited", "type": "rate_limit"}},
                {"Retry-After": f"{fake.retry_after_s:g}"},
            )
            return
        if behaviour == "500":
            self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
            return
        if behaviour == "garbage":
            self._send_raw(200, b"<html>upstream hiccup</html>", "text/html")
            return
        if behaviour == "slow" and fake._stop.wait(fake.slow_s):
            return
        content = _content_for(behaviour, text)
        self._send(
            200,
            {
                "id": f"chatcmpl-fake-{fake.calls}",
                "object": "chat.completion",
                "model": body.get("model", fake.model),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt) // 4 + 1,
                    "completion_tokens": len(content) // 4 + 1,
                    "total_tokens": len(prompt) // 4 + len(content) // 4 + 2,
                },
            },
        )

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer


def _content_for(behaviour: str, text: str) -> str:
    answer = fake_answer(text)
    if behaviour == "malformed":
        return f"Sure! This message is {answer['label']}."
    if behaviour == "bad_schema":
        return json.dumps({"label": "BUY", "pair": answer["pair"]})
    if behaviour == "ungrounded":
        answer["entry"] = [*answer["entry"], 98765.4321]
    if behaviour == "injection":
        demanded = re.search(r"\b(SIGNAL_LONG|SIGNAL_SHORT|SIGNAL_NONE|NON_SIGNAL)\b", text)
        if demanded:
            answer["label"] = demanded.group(1)
            answer["side"] = {"SIGNAL_LONG": "LONG", "SIGNAL_SHORT": "SHORT"}.get(demanded.group(1))
    return json.dumps(answer)


def fake_answer(text: str) -> dict[str, Any]:
    """The deterministic answer: the rule parser's, or the built-in heuristic's."""
    try:
        from trademl.signals.parser import parse_signal
    except ImportError:
        return heuristic_answer(text)
    parsed = parse_signal(text)
    return {"label": parsed.label, **parsed.fields()}


_NUM = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_FIAT = "USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD"


def heuristic_answer(text: str) -> dict[str, Any]:
    """A crude, grounded reading of a signal: enough to exercise the client, not to label data."""
    upper = text.upper()
    long_ = re.search(r"\b(LONG|BUY|BULL)", upper)
    short = re.search(r"\b(SHORT|SELL|BEAR)", upper)
    side = "LONG" if long_ and not short else "SHORT" if short and not long_ else None
    pair = None
    if m := re.search(r"\b([A-Z0-9]{2,10})\s*[/-]?\s*(USDT|USDC|BUSD)\b", upper):
        pair = m.group(1) + m.group(2)
    elif m := re.search(rf"\b({_FIAT})\s*/?\s*({_FIAT})\b", upper):
        pair = m.group(1) + m.group(2)
    elif re.search(r"\b(GOLD|XAU)", upper):
        pair = "XAUUSD"

    def numbers(pattern: str) -> list[float]:
        return [
            float(n.replace(",", "")) for n in re.findall(pattern + r"\s*[:=@-]?\s*" + _NUM, upper)
        ]

    entry = numbers(r"(?:@|\b(?:ENTRY|AT|BUY|SELL|LONG|SHORT))")
    targets = numbers(r"\b(?:TP\d?|TARGET\s*\d?)")
    stops = numbers(r"\b(?:SL|STOP(?:\s*LOSS)?)")
    lev = re.search(r"\b(\d{1,3})\s*X\b|\bX\s*(\d{1,3})\b|LEVERAGE\s*[:=]?\s*(\d{1,3})", upper)
    levels = entry or targets or stops
    if pair or levels:
        label = {"LONG": "SIGNAL_LONG", "SHORT": "SIGNAL_SHORT"}.get(side or "", "SIGNAL_NONE")
        if not levels and not side:
            label = "NON_SIGNAL"
    else:
        label, side = "NON_SIGNAL", None
    return {
        "label": label,
        "pair": pair,
        "side": side,
        "entry": entry,
        "targets": targets,
        "stop_loss": stops[0] if stops else None,
        "leverage": float(next(g for g in lev.groups() if g)) if lev else None,
    }


def _flatten(plans: Any) -> list[str]:
    out: list[str] = []
    for plan in plans:
        out.extend([plan] if isinstance(plan, str) else plan)
    return out
