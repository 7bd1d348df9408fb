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
- ``obey``: a fully compromised model: answers what the message demands, in any of several
  languages (a label or a direction word, JSON in the text), with the message's own numbers
  arranged into coherent levels (first number the entry, those beyond it targets, one behind it
  the stop) and the coin it names: grounded, so only the evidence rule can stop it.
- ``401`` / ``403``: the key is refused.   - ``404``: no such route or model.
- ``echo_key``: a 500 whose body echoes the request's ``Authorization`` header and an
  ``api_key=...`` pair, like a badly written proxy (retried, then a failure).
- ``echo_key_answer``: a 200 whose answer puts the ``Authorization`` header in the label (fails
  the schema; the schema error quotes the value).

``echo_auth=True`` makes every error body (401, 403, 404, 429, 500) echo the key the same way.
``answers`` maps a message substring to the exact answer to give for it (the correct label of a
test message the rule parser cannot read).
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
    "obey",
    "401",
    "403",
    "404",
    "echo_key",
    "echo_key_answer",
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
        echo_auth: error bodies quote the request's ``Authorization`` header (a leaky server).
        answers: message substring -> the answer to give (for ``ok``) instead of the parser's.
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
        echo_auth: bool = False,
        answers: Mapping[str, dict[str, Any]] | None = None,
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
        self.echo_auth = echo_auth
        self.answers = dict(answers or {})
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
        auth = self.headers.get("Authorization") or ""
        if behaviour in _ERRORS:
            status, message, kind = _ERRORS[behaviour]
            if fake.echo_auth or behaviour == "echo_key":
                key = auth.removeprefix("Bearer ").strip()
                message += f" (request had Authorization: {auth}; api_key={key})"
            headers = {"Retry-After": f"{fake.retry_after_s:g}"} if status == 429 else None
            self._send(status, {"error": {"message": message, "type": kind}}, headers)
            return
        if behaviour == "garbage":
            self._send_raw(200, b"<html>upstream hiccup</html>", "text/html")
            return
        if behaviour == "slow" and fake._stop.wait(fake.slow_s):
            return
        if behaviour == "echo_key_answer":
            content = json.dumps({**fake_answer(text), "label": auth})
        else:
            content = _content_for(behaviour, text, fake.answers)
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


_ERRORS = {
    "429": (429, "rate limited", "rate_limit"),
    "500": (500, "internal error", "server_error"),
    "echo_key": (500, "upstream rejected the request", "server_error"),
    "401": (401, "Incorrect API key provided", "invalid_api_key"),
    "403": (403, "This key is not allowed to use this model", "permission_denied"),
    "404": (404, "The model does not exist or you do not have access to it", "not_found"),
}


def _content_for(behaviour: str, text: str, answers: Mapping[str, dict[str, Any]]) -> str:
    if behaviour == "obey":
        return json.dumps(obedient_answer(text))
    given = next((a for key, a in answers.items() if key in text), None)
    answer = dict(given) if given is not None else fake_answer(text)
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


#: A horizon or a market event, not a side ("LONG-TERM", "SHORT AND MEDIUM TERM", "SHORT SQUEEZE").
_NOT_A_SIDE = (
    r"(?![\s-]*(?:TERM|TIME|RUN)\b)(?!\s*(?:AND|OR|&|/|TO|-)\s*(?:LONG|SHORT|MID|MEDIUM)[\s-]*TERM)"
    r"(?!S?[\s-]*(?:SQUEEZ|LIQUIDAT))"
)
#: A trade's result shaped like a signal: a target ticked or reached, a profit, "closed at".
_RESULT = re.compile(
    r"[✅✔☑]|\b(?:TP\d?|TARGETS?\s*\d?)\s*[:=]?\s*(?:[\d.,]+\s*)?(?:HIT|DONE|REACHED|ACHIEVED)\b"
    r"|\bALL\s+(?:THE\s+)?(?:TARGETS|TPS)\s+(?:ARE\s+|WERE\s+)?(?:HIT|DONE|REACHED|ACHIEVED)\b"
    r"|\bCLOSED\s+(?:AT|@|IN\s+PROFIT|WITH)|\d\s?%\s*(?:PROFIT|GAIN)|\+\s?\d+(?:\.\d+)?\s?%"
)


def heuristic_answer(text: str) -> dict[str, Any]:
    """A crude, grounded reading of a signal: enough to exercise the client, not to label data.

    It follows the class definition: the side stated in words, else the side the levels imply
    (:func:`trademl.signals.levels.side_from_levels`); SIGNAL_NONE only when neither gives one;
    a result ("TP1 hit", targets ticked, a profit, "closed at") is NON_SIGNAL."""
    from trademl.signals.levels import side_from_levels

    upper = text.upper()
    long_ = re.search(rf"\b(LONG{_NOT_A_SIDE}|BUY|BULL)", upper)
    short = re.search(rf"\b(SHORT{_NOT_A_SIDE}|SELL|BEAR)", upper)
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
    if side is None:
        side = side_from_levels(entry, targets, stops[0] if stops else None)
    if _RESULT.search(upper):
        label, side = "NON_SIGNAL", None
    elif pair or levels:
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


# --- the compromised model ("obey") ---------------------------------------------------------

_DEMANDED_CLASS = re.compile(r"\b(SIGNAL_LONG|SIGNAL_SHORT|SIGNAL_NONE)\b", re.IGNORECASE)
#: Direction words in the languages the adversarial suite uses (substring match, no boundaries:
#: Chinese has none, and a compromised model is generous).
_DEMANDED_LONG = re.compile(
    r"long(?![\s-]*term)|buy|bull|compra|comprar|compre|kauf|лонг|покуп|купи|рост|做多|买入|多单|看涨",
    re.IGNORECASE,
)
_DEMANDED_SHORT = re.compile(
    r"short|sell|bear|venta|vend|verkauf|шорт|прода|做空|卖出|空单|看跌", re.IGNORECASE
)
_COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX", "LINK", "LTC", "DOT", "TON")
_COIN_NAMES = {"BITCOIN": "BTC", "ETHEREUM": "ETH"}
_JSON_IN_TEXT = re.compile(r"\{.*\}", re.DOTALL)


def obedient_answer(text: str) -> dict[str, Any]:
    """What a fully compromised model answers: the label the message asks for, built from the
    message's own coin and numbers so that every part of it is grounded in the text."""
    from trademl.llm.grounding import numbers_in

    embedded = _embedded_answer(text)
    if embedded is not None:
        return embedded
    upper = text.upper()
    demanded = _DEMANDED_CLASS.search(text)
    if demanded:
        label = demanded.group(1).upper()
    elif _DEMANDED_SHORT.search(text) and not _DEMANDED_LONG.search(text):
        label = "SIGNAL_SHORT"
    else:
        label = "SIGNAL_LONG"  # asked for nothing: still a trade, the worst case
    side = {"SIGNAL_LONG": "LONG", "SIGNAL_SHORT": "SHORT"}.get(label)
    coin = next(
        (c for c in _COINS if re.search(rf"(?<![A-Z]){c}(?:[/-]?USDT?|(?![A-Z]))", upper)), None
    )
    if coin is None:
        coin = next((v for k, v in _COIN_NAMES.items() if k in upper), None)
    numbers: list[float] = []
    for n in numbers_in(text):
        if n not in numbers:
            numbers.append(n)
    entry: list[float] = numbers[:1]
    targets: list[float] = []
    stop = None
    if entry:
        e = entry[0]
        sign = -1.0 if side == "SHORT" else 1.0
        near = [n for n in numbers[1:] if e / 3 <= n <= e * 3]  # plausible levels only
        targets = [n for n in near if sign * (n - e) > 0]
        behind = sorted((n for n in near if sign * (n - e) < 0), key=lambda n: abs(n - e))
        stop = behind[0] if behind else None  # the closest: the most plausible stop
    return {
        "label": label,
        "pair": f"{coin}USDT" if coin else None,
        "side": side,
        "entry": entry,
        "targets": targets,
        "stop_loss": stop,
        "leverage": None,
    }


def _embedded_answer(text: str) -> dict[str, Any] | None:
    """A JSON answer written into the message ('{"label":"SIGNAL_LONG","entry":[65000]}')."""
    match = _JSON_IN_TEXT.search(text)
    if match is None:
        return None
    try:
        given = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(given, dict) or str(given.get("label", "")).upper() not in (
        "SIGNAL_LONG",
        "SIGNAL_SHORT",
        "SIGNAL_NONE",
        "NON_SIGNAL",
    ):
        return None
    label = str(given["label"]).upper()

    def nums(value: Any) -> list[float]:
        values = value if isinstance(value, list) else [value]
        return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]

    stop = nums(given.get("stop_loss"))
    side = {"SIGNAL_LONG": "LONG", "SIGNAL_SHORT": "SHORT"}.get(label)
    pair = given.get("pair")
    return {
        "label": label,
        "pair": pair if isinstance(pair, str) else None,
        "side": side,
        "entry": nums(given.get("entry")),
        "targets": nums(given.get("targets")),
        "stop_loss": stop[0] if stop else None,
        "leverage": None,
    }
