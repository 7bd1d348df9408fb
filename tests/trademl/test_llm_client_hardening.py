"""The LLM client under a bad key, a wrong URL and a server that leaks the key (issue 7, part 4)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from trademl.errors import TradeMLError
from trademl.lake import Lake
from trademl.llm import PROMPT_VERSION, LabelCache, LLMEndpoint, LLMLabeler
from trademl.llm.client import LLMAuthError, LLMEndpointError
from trademl.llm.fake_server import FakeLLMServer
from trademl.llm.redact import redact
from trademl.llm.store import write_label_run

LONG = "BTC/USDT LONG entry 62000 TP1 63500 TP2 65000 SL 60500 lev 10x"
SHORT = "Sell EURUSD @ 1.0850 SL 1.0900 TP 1.0750"
CHATTER = "gm everyone, market is choppy today"
#: Key-shaped (an OpenAI project key) and not key-shaped (only the configured-key rule sees it).
KEYS = ("sk-proj-Zq8vR2mXk4TbN7wLp9Yc3Hd6Jf1Gs5Ua0Ee", "correct horse battery staple")


def messages(*texts: str) -> list[dict[str, str]]:
    return [{"message_id": f"m{i}", "text": text} for i, text in enumerate(texts)]


def endpoint(srv: FakeLLMServer, **overrides) -> LLMEndpoint:
    settings = dict(
        base_url=srv.base_url,
        model="fake",
        api_key_env="TRADEML_TEST_LLM_KEY",
        timeout_s=2.0,
        max_concurrency=4,
        max_retries=2,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
    )
    settings.update(overrides)
    return LLMEndpoint(**settings)


def chain(exc: BaseException) -> str:
    """Everything an exception shows: its message, repr and those of its causes."""
    out = []
    while exc is not None:
        out += [str(exc), repr(exc), repr(getattr(exc, "args", ()))]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


@pytest.mark.parametrize("status", ["401", "403"])
def test_a_refused_key_fails_the_run_naming_endpoint_status_and_variable(monkeypatch, status):
    key = KEYS[0]
    monkeypatch.setenv("TRADEML_TEST_LLM_KEY", key)
    texts = messages(*(f"{LONG} #{i}" for i in range(20)))
    with FakeLLMServer(script={"": status}, echo_auth=True) as srv:
        with pytest.raises(LLMAuthError) as info:
            LLMLabeler(endpoint(srv)).label(texts)
    err = info.value
    assert isinstance(err, TradeMLError) and isinstance(err, LLMEndpointError)
    message = str(err)
    assert srv.base_url in message and f"HTTP {status}" in message
    assert "TRADEML_TEST_LLM_KEY" in message and key not in chain(err)
    assert err.status == int(status)
    assert srv.calls <= 4  # the first refusal stops the rest: no 20 doomed requests


def test_a_wrong_url_or_model_fails_the_run(monkeypatch):
    monkeypatch.setenv("TRADEML_TEST_LLM_KEY", KEYS[0])
    with FakeLLMServer(script={"": "404"}) as srv:
        with pytest.raises(LLMEndpointError) as info:
            LLMLabeler(endpoint(srv, model="gpt-nope")).label(messages(LONG, SHORT, CHATTER))
    message = str(info.value)
    assert srv.base_url in message and "HTTP 404" in message and "gpt-nope" in message
    assert not isinstance(info.value, LLMAuthError)


def test_answers_paid_for_before_the_key_was_refused_stay_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("TRADEML_TEST_LLM_KEY", KEYS[0])
    texts = messages(LONG, SHORT, "REVOKED here " + CHATTER, "gm again")
    with FakeLLMServer(script={"REVOKED": "401"}) as srv:
        labeler = LLMLabeler(endpoint(srv, max_concurrency=1), cache_dir=tmp_path)
        with pytest.raises(LLMAuthError):
            labeler.label(texts)
        cache = LabelCache(tmp_path, "fake", PROMPT_VERSION, base_url=srv.base_url)
        assert cache.get(LONG) is not None and cache.get(SHORT) is not None
        srv.script.clear()  # the key works again
        rerun = LLMLabeler(endpoint(srv), cache_dir=tmp_path).label(texts)
    assert rerun.stats["cache_hits"] == 2 and rerun.stats["calls_made"] == 2
    assert srv.calls_for(LONG) == 1 and len(rerun.labels) == 4


def test_cache_is_keyed_by_endpoint_base_url(tmp_path):
    with FakeLLMServer() as one, FakeLLMServer() as two:
        LLMLabeler(endpoint(one, api_key_env=None), cache_dir=tmp_path).label(messages(LONG))
        same = LLMLabeler(endpoint(one, api_key_env=None), cache_dir=tmp_path).label(messages(LONG))
        other = LLMLabeler(endpoint(two, api_key_env=None), cache_dir=tmp_path).label(
            messages(LONG)
        )
    assert same.stats["cache_hits"] == 1 and same.stats["calls_made"] == 0
    assert other.stats["cache_hits"] == 0 and other.stats["calls_made"] == 1


def test_cache_entries_without_a_base_url_are_not_reused(tmp_path):
    legacy = {
        "model": "fake",
        "prompt_version": PROMPT_VERSION,
        "text_sha256": __import__("hashlib").sha256(LONG.encode()).hexdigest(),
        "answer": {"label": "SIGNAL_SHORT"},
        "tokens_in": 1,
        "tokens_out": 1,
    }
    (tmp_path / "answers-legacy.jsonl").write_text(json.dumps(legacy) + "\n")
    cache = LabelCache(tmp_path, "fake", PROMPT_VERSION, base_url="http://127.0.0.1:1/v1")
    assert cache.get(LONG) is None and len(cache) == 0


@pytest.mark.parametrize("key", KEYS, ids=["key-shaped", "plain-words"])
def test_a_server_that_echoes_the_key_leaks_it_nowhere(monkeypatch, tmp_path, caplog, key):
    monkeypatch.setenv("TRADEML_TEST_LLM_KEY", key)
    caplog.set_level(logging.DEBUG)
    lake = Lake(tmp_path / "lake")
    texts = messages(*(f"{SHORT} #{i}" for i in range(10)), CHATTER, LONG)
    script = {"EURUSD": "echo_key", "gm everyone": "echo_key_answer"}
    with FakeLLMServer(script=script, echo_auth=True) as srv:
        labeler = LLMLabeler(endpoint(srv, max_retries=1), cache_dir=lake.root / "cache" / "llm")
        run = labeler.label(texts)
        assert len(run.failures) == 11 and len(run.labels) == 1
        write_label_run(run, texts, lake)
        # and a refused key on the same leaky server
        srv.script = {"": "401"}
        with pytest.raises(LLMAuthError) as info:
            LLMLabeler(endpoint(srv), cache_dir=lake.root / "cache" / "llm").label(
                messages("fresh text, not cached")
            )
    assert srv.behaviours["echo_key"] == 20  # the leaky body was really served 20 times
    reasons = [f["reason"] for f in run.failures]
    assert all("[REDACTED]" in r for r in reasons), reasons
    files = [p for p in lake.root.rglob("*") if p.is_file()]
    assert files and (lake.root / "quarantine" / "llm_labels" / "failures.jsonl") in files
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    records = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert records and not any(key in r for r in records)
    assert key not in chain(info.value)
    assert key not in json.dumps([run.failures, run.ungrounded, run.stats], default=str)


def test_redact_hides_key_shapes_and_keeps_ordinary_text():
    secret = "Zq8vR2mXk4TbN7wLp9Yc3Hd6Jf1Gs5Ua0EeQ"
    cases = {
        "Authorization: Bearer abc.def-ghi_123": "abc.def-ghi_123",
        "Incorrect API key provided: sk-proj-AbCdEf0123456789xyz": "sk-proj-AbCdEf0123456789xyz",
        "bad request ?api_key=hunter2hunter2&x=1": "hunter2hunter2",
        '{"apiKey": "Secret-Value-42"}': "Secret-Value-42",
        f"token {secret} refused": secret,
        "gsk_live0123456789abcdefABCDEF rejected": "gsk_live0123456789abcdefABCDEF",
    }
    for text, hidden in cases.items():
        out = redact(text)
        assert hidden not in out and "[REDACTED]" in out, (text, out)
    assert "my-own-key" not in redact("echo my-own-key here", secrets=["my-own-key"])
    for plain in (
        "HTTP 500: internal error",
        "timeout after 0.2 s",
        "BTC/USDT LONG entry 62000 TP1 63500",
        "malformed: schema: label: 'BUY' is not one of ['SIGNAL_LONG']",
        "https://api.openai.com/v1/chat/completions",
    ):
        assert redact(plain) == plain


def test_redacted_error_strings_stay_short_and_named(monkeypatch):
    monkeypatch.setenv("TRADEML_TEST_LLM_KEY", KEYS[0])
    with FakeLLMServer(script={"EURUSD": "echo_key"}) as srv:
        run = LLMLabeler(endpoint(srv, max_retries=0)).label(messages(SHORT))
    (failure,) = run.failures
    assert failure["reason"].startswith("HTTP 500:") and KEYS[0] not in failure["reason"]
    assert len(failure["reason"]) <= 260


def test_store_redacts_what_it_writes(tmp_path):
    """write_label_run scrubs failures and ungrounded rows however they were produced."""
    from trademl.llm.labeler import LabelRun

    run = LabelRun(
        failures=[{"message_id": "m0", "reason": "HTTP 500: Bearer sk-abcdefghijklmnop123456"}],
        ungrounded=[
            {"message_id": "m1", "answer": {"pair": "X"}, "reason": "api_key=hunter2hunter2"}
        ],
    )
    lake = Lake(tmp_path)
    paths = write_label_run(run, messages("a", "b"), lake)
    written = Path(paths["failures"]).read_text() + Path(paths["ungrounded"]).read_text()
    assert "sk-abcdefghijklmnop123456" not in written and "hunter2hunter2" not in written
    assert written.count("[REDACTED]") == 2
