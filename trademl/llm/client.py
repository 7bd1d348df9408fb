"""A concurrent client for OpenAI-compatible chat-completions endpoints.

One wire format (``POST {base_url}/chat/completions`` with a Bearer key) covers OpenAI, Groq,
Gemini's and Anthropic's OpenAI-compatible endpoints, vLLM, Ollama and llama.cpp servers.
Transient trouble (429, 5xx, timeouts, dropped connections, answers that are not the JSON asked
for) is retried with exponential backoff and full jitter, honouring ``Retry-After``; what still
fails is returned per request, so one bad message never costs the rest of a batch. A refusal that
would repeat for every message (401/403: the key; 404: the URL or model) stops the batch and raises
:class:`LLMAuthError` / :class:`LLMEndpointError`, carrying the answers that did arrive so the
caller can keep what it paid for. Every error string is passed through
:func:`trademl.llm.redact.redact` before it is stored, logged or raised: servers echo keys.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from trademl.errors import TradeMLError
from trademl.llm.redact import redact, remember_secret

log = logging.getLogger(__name__)

#: Statuses worth another try: rate limits and server-side trouble.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
#: Statuses that will fail the same way for every message (bad key, wrong URL or model).
FATAL_STATUSES = frozenset({401, 403, 404})


@dataclass(frozen=True)
class LLMEndpoint:
    """Where and how to call a chat model, and what its tokens cost.

    Attributes:
        base_url: API root that ``/chat/completions`` is appended to, e.g.
            ``https://api.openai.com/v1``, ``http://localhost:11434/v1`` (Ollama).
        model: model name sent in every request.
        api_key_env: name of the environment variable holding the key; ``None`` for local
            servers that need none. The key itself is never stored in configuration.
        timeout_s: per-request read timeout (connect timeout is the smaller of this and 10 s).
        max_concurrency: requests in flight at once.
        max_retries: extra attempts after the first, per message.
        backoff_base_s / backoff_max_s: full-jitter backoff, ``uniform(0, min(max, base*2**n))``.
        max_retry_after_s: cap on a server's ``Retry-After`` so a bad header cannot stall a run.
        price_in_per_1k / price_out_per_1k: USD per 1,000 prompt / completion tokens.
        temperature: sampling temperature (0 for labelling: the same text, the same label).
        max_tokens: completion budget per answer.
    """

    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    max_concurrency: int = 8
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    temperature: float = 0.0
    max_tokens: int = 512

    @classmethod
    def from_env(cls, prefix: str = "TRADEML_LLM_") -> LLMEndpoint | None:
        """The endpoint described by ``{prefix}BASE_URL``, ``{prefix}MODEL``, ... or ``None``.

        ``None`` (no base URL set) means "no endpoint configured": labelling falls back to rules.
        """
        base_url = os.environ.get(f"{prefix}BASE_URL", "").strip()
        if not base_url:
            return None
        env = os.environ
        return cls(
            base_url=base_url,
            model=env.get(f"{prefix}MODEL", "gpt-4o-mini"),
            api_key_env=env.get(f"{prefix}API_KEY_ENV", "OPENAI_API_KEY") or None,
            timeout_s=float(env.get(f"{prefix}TIMEOUT_S", 60.0)),
            max_concurrency=int(env.get(f"{prefix}MAX_CONCURRENCY", 8)),
            max_retries=int(env.get(f"{prefix}MAX_RETRIES", 4)),
            price_in_per_1k=float(env.get(f"{prefix}PRICE_IN_PER_1K", 0.0)),
            price_out_per_1k=float(env.get(f"{prefix}PRICE_OUT_PER_1K", 0.0)),
        )

    def api_key(self) -> str | None:
        """The key from ``api_key_env``; raises if that variable is named but unset."""
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ValueError(
                f"LLM endpoint {self.base_url}: environment variable {self.api_key_env} is not "
                "set; export the API key there, or set api_key_env=None for a keyless local server"
            )
        return key

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float:
        """Estimated price of the given token counts."""
        return tokens_in / 1000 * self.price_in_per_1k + tokens_out / 1000 * self.price_out_per_1k


class LLMEndpointError(TradeMLError):
    """The endpoint refuses every request the same way (wrong URL or model, bad key): the run
    stops. ``status`` is the HTTP status; the message names the endpoint, never the key."""

    def __init__(self, message: str, status: int, results: list[ChatResult] | None = None):
        super().__init__(message)
        self.status = status
        #: every item of the stopped batch, in input order: answered ones have ``ok`` True
        self.results = results or []


class LLMAuthError(LLMEndpointError):
    """The endpoint refused the API key (HTTP 401 or 403)."""


class MalformedAnswer(ValueError):
    """The model answered, but not with what was asked for (not JSON, or not the schema)."""


@dataclass
class ChatResult:
    """Outcome of one chat request after all its attempts."""

    index: int
    value: Any = None  # what ``parse`` returned for the answer content; None on failure
    error: str | None = None  # why the last attempt failed; None on success
    attempts: int = 0  # HTTP requests made for this item
    tokens_in: int = 0  # summed over all attempts that reported usage
    tokens_out: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Shared:
    """State all workers of one batch see: the rate-limit pause and a fatal error."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pause_until: float = 0.0
    fatal: str | None = None
    fatal_status: int | None = None
    fatal_detail: str = ""
    response_format_ok: bool = True


class ChatClient:
    """Sends chat-completions requests concurrently, with retries, and reports per item.

    One batch at a time per client: :meth:`complete_many` owns the per-thread sessions it opens.
    """

    def __init__(self, endpoint: LLMEndpoint, *, sleep: Callable[[float], None] = time.sleep):
        self.endpoint = endpoint
        self._key = endpoint.api_key()  # fail fast on a missing key, before any request
        remember_secret(self._key)  # redacted from every error string from now on
        self._url = endpoint.base_url.rstrip("/") + "/chat/completions"
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def complete_many(
        self,
        conversations: Sequence[list[dict[str, str]]],
        parse: Callable[[str], Any],
        response_format: dict[str, Any] | None = None,
        on_done: Callable[[ChatResult], None] | None = None,
    ) -> list[ChatResult]:
        """Answer every conversation; ``parse`` turns answer content into a value or raises
        :class:`MalformedAnswer` (which is retried). Results come back in input order."""
        shared = _Shared()
        workers = max(1, min(self.endpoint.max_concurrency, len(conversations)))

        def run(i: int) -> ChatResult:
            result = self._complete(i, conversations[i], parse, response_format, shared)
            if on_done is not None:
                on_done(result)
            return result

        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
                results = list(pool.map(run, range(len(conversations))))
            if shared.fatal_status is not None:
                raise self._fatal_error(shared.fatal_status, shared.fatal_detail, results)
            return results
        finally:
            with self._sessions_lock:
                for session in self._sessions:
                    session.close()
                self._sessions.clear()
            self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["Content-Type"] = "application/json"
            if self._key:
                session.headers["Authorization"] = f"Bearer {self._key}"
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _complete(
        self,
        index: int,
        messages: list[dict[str, str]],
        parse: Callable[[str], Any],
        response_format: dict[str, Any] | None,
        shared: _Shared,
    ) -> ChatResult:
        ep = self.endpoint
        result = ChatResult(index=index)
        attempt = 0
        while True:
            if shared.fatal:
                result.error = f"not sent: {shared.fatal}"
                return result
            wait = shared.pause_until - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            body: dict[str, Any] = {
                "model": ep.model,
                "messages": messages,
                "temperature": ep.temperature,
                "max_tokens": ep.max_tokens,
            }
            if response_format is not None and shared.response_format_ok:
                body["response_format"] = response_format
            result.attempts += 1
            retry_after: float | None = None
            try:
                resp = self._session().post(
                    self._url, json=body, timeout=(min(10.0, ep.timeout_s), ep.timeout_s)
                )
            except requests.Timeout:
                error = f"timeout after {ep.timeout_s:g} s"
            except requests.RequestException as exc:
                error = f"connection error: {type(exc).__name__}"
            else:
                error, retry_after = self._read(resp, parse, result, body, shared)
                if error is None:
                    return result
                if error.startswith("fatal"):
                    result.error = error
                    return result
                if error == "response_format unsupported":
                    continue  # resend at once without it; the schema is in the prompt too
            if attempt >= ep.max_retries:
                result.error = error
                return result
            delay = random.uniform(0.0, min(ep.backoff_max_s, ep.backoff_base_s * 2**attempt))
            if retry_after is not None:
                delay = max(delay, min(retry_after, ep.max_retry_after_s))
                with shared.lock:  # a rate limit applies to every worker, not just this one
                    shared.pause_until = max(shared.pause_until, time.monotonic() + delay)
            log.debug(
                "LLM item %d attempt %d failed (%s); retrying in %.2f s",
                index,
                result.attempts,
                error,
                delay,
            )
            self._sleep(delay)
            attempt += 1

    def _fatal_error(self, status: int, detail: str, results: list[ChatResult]) -> LLMEndpointError:
        """The error that stops a run, naming the endpoint and what to check (never the key)."""
        ep = self.endpoint
        said = f"; the server said: {detail}" if detail else ""
        if status in (401, 403):
            if not ep.api_key_env:
                what = (
                    "no API key was sent (api_key_env is None): set api_key_env to the name of "
                    "the environment variable that holds this endpoint's key"
                )
            elif status == 401:
                what = (
                    f"check that the environment variable {ep.api_key_env} holds a valid key "
                    "for this endpoint (the key itself is never shown)"
                )
            else:
                what = (
                    f"the key in the environment variable {ep.api_key_env} may not use model "
                    f"{ep.model!r} here: check the variable's name, the key's permissions and "
                    "the model name"
                )
            name = "Unauthorized" if status == 401 else "Forbidden"
            return LLMAuthError(
                f"LLM endpoint {ep.base_url} refused the request (HTTP {status} {name}): "
                f"{what}{said}",
                status,
                results,
            )
        return LLMEndpointError(
            f"LLM endpoint {ep.base_url} answered HTTP {status} Not Found to POST {self._url} "
            f"(model {ep.model!r}): check the base URL (the API root, usually ending in /v1) "
            f"and the model name{said}",
            status,
            results,
        )

    def _read(
        self,
        resp: requests.Response,
        parse: Callable[[str], Any],
        result: ChatResult,
        body: dict[str, Any],
        shared: _Shared,
    ) -> tuple[str | None, float | None]:
        """Fold one HTTP response into ``result``; return (error or None, Retry-After seconds).

        Error strings are redacted here, before anything can store, log or raise them."""
        status = resp.status_code
        if status != 200:
            # Redact the whole head of the body before cutting it: a cut key escapes the patterns.
            snippet = redact(resp.text[:4000], (self._key or "",))[:200].replace("\n", " ")
            if status == 400 and "response_format" in body and "response_format" in resp.text:
                shared.response_format_ok = False
                log.warning("LLM endpoint rejected response_format; relying on the prompt schema")
                return "response_format unsupported", None
            if status in RETRYABLE_STATUSES:
                return f"HTTP {status}: {snippet}", _retry_after(resp)
            error = f"fatal: HTTP {status}: {snippet}"
            if status in FATAL_STATUSES:
                with shared.lock:
                    if shared.fatal is None:
                        shared.fatal, shared.fatal_status, shared.fatal_detail = (
                            error,
                            status,
                            snippet,
                        )
            return error, None
        try:
            payload = resp.json()
        except ValueError:
            return "malformed: response body is not JSON", None
        usage = payload.get("usage") if isinstance(payload, dict) else None
        if isinstance(usage, dict):
            result.tokens_in += int(usage.get("prompt_tokens") or 0)
            result.tokens_out += int(usage.get("completion_tokens") or 0)
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return "malformed: no choices[0].message.content", None
        try:
            result.value = parse(content or "")
        except MalformedAnswer as exc:  # a schema error quotes the answer, which may echo a key
            return redact(f"malformed: {exc}", (self._key or "",))[:300], None
        return None, None


def _retry_after(resp: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds; dates are ignored)."""
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def parse_json_object(content: str) -> dict[str, Any]:
    """The JSON object in ``content``, tolerating a Markdown code fence around it."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").strip()
        if text.lower().startswith("json"):
            text = text[4:]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"answer is not JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(value, dict):
        raise MalformedAnswer(f"answer is JSON {type(value).__name__}, expected an object")
    return value
