"""Redaction: nothing key-shaped from a server's answer reaches a file, a log or an exception.

Servers and proxies echo requests in their error bodies, and some echo the ``Authorization``
header. :func:`redact` is the one function every error string goes through before it is stored,
logged or raised (the client) and every quarantine or review record before it is written (the
store). It replaces with ``[REDACTED]``:

1. the configured keys themselves (registered with :func:`remember_secret` by the client when it
   reads the key; also any passed as ``secrets``), whatever they look like;
2. credentials after an auth scheme: ``Bearer <token>``, ``Basic <token>``;
3. provider-shaped keys: ``sk-...`` (OpenAI, Anthropic), ``gsk_`` (Groq), ``xai-``, ``hf_``,
   ``ghp_`` ..., ``AIza...`` (Google), ``AKIA...`` (AWS), JWTs (``eyJ...``);
4. the value of ``name=value`` / ``"name": "value"`` pairs whose name says secret:
   ``api_key``, ``apikey``, ``x-api-key``, ``access_token``, ``token``, ``secret``, ``password``,
   ``authorization`` ...;
5. long high-entropy tokens: 24+ characters of ``[A-Za-z0-9_+=-]`` mixing upper case, lower case
   and digits with at least 3.5 bits of entropy per character (random keys; not words, prices,
   ``snake_case`` names or hex hashes).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "redact", "redact_record", "remember_secret"]

REDACTED = "[REDACTED]"

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
#: Shorter configured "keys" than this are not replaced everywhere (a key of "x" would eat text).
_MIN_SECRET_LEN = 6

_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{6,}")
_PROVIDER_KEY = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:sk|rk|pk)-[A-Za-z0-9_\-]{8,}"
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|(?:gsk|xai|hf|ghp|gho|ghu|ghs|ghr|glpat|github_pat)[_-][A-Za-z0-9_\-]{8,}"
    r"|AIza[0-9A-Za-z_\-]{20,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]*"
    r")"
)
_SECRET_PAIR = re.compile(
    r"(?i)((?<![A-Za-z0-9])[\"']?(?:x-)?(?:api[\s_-]?key|apikey|access[_-]?token|auth[_-]?token"
    r"|refresh[_-]?token|id[_-]?token|client[_-]?secret|secret(?:[_-]?key)?|password|passwd|pwd"
    r"|token|authorization|proxy-authorization)[\"']?\s*[:=]\s*)([\"']?)([^\s\"'&,;}\]]+)"
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9_+=\-])[A-Za-z0-9_+=\-]{24,}(?![A-Za-z0-9_+=\-])")


def remember_secret(secret: str | None) -> None:
    """Redact ``secret`` from everything :func:`redact` sees from now on in this process."""
    if secret and len(secret) >= _MIN_SECRET_LEN:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def _entropy(token: str) -> float:
    counts = Counter(token)
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _random_looking(token: str) -> bool:
    return (
        any(c.isdigit() for c in token)
        and any(c.islower() for c in token)
        and any(c.isupper() for c in token)
        and _entropy(token) >= 3.5
    )


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every key-shaped part (see the module docstring) replaced by ``[REDACTED]``."""
    if not text:
        return text
    with _SECRETS_LOCK:
        known = {*_SECRETS, *(s for s in secrets if s and len(s) >= _MIN_SECRET_LEN)}
    for secret in sorted(known, key=len, reverse=True):  # a key inside another: longest first
        text = text.replace(secret, REDACTED)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _PROVIDER_KEY.sub(REDACTED, text)
    text = _SECRET_PAIR.sub(  # a value already redacted above starts with "["
        lambda m: m.group(0)
        if m.group(3).startswith("[")
        else f"{m.group(1)}{m.group(2)}{REDACTED}",
        text,
    )
    return _TOKEN.sub(lambda m: REDACTED if _random_looking(m.group(0)) else m.group(0), text)


def redact_record(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (a record: dicts, lists, strings, numbers) with every string redacted."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_record(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_record(v, secrets) for v in value]
    return value
