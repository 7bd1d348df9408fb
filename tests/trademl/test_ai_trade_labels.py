"""AI trade labels: triple barrier on hand-built paths; the LLM path against a local
OpenAI-compatible server that answers trade labels and injects invalid ones."""

import json
import re
import threading
from collections import Counter
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from trademl.demo.candles import write_candles
from trademl.demo.market import simulate
from trademl.errors import InputError
from trademl.gate.ai_labels import (
    SampleSettings,
    label_points,
    prepare_candles,
    realised_trade,
    sample_points,
    validate_answer,
)
from trademl.gate.trade_labels import train_trade_label_model
from trademl.ingest.market import CANDLES_SCHEMA, read_candles
from trademl.llm.client import LLMEndpoint

_PRICE = re.compile(r"last close ([0-9.e+-]+)\.\nRSI\(\d+\) [0-9.]+; ATR\(\d+\) ([0-9.e+-]+)")
_WHEN = re.compile(r"Symbol (\w+), (\d{4}-\d\d-\d\d \d\d:\d\d) UTC")


class TradeLLMServer:
    """/v1/chat/completions answering a coherent BUY (target +3 ATR, stop -2 ATR), except where
    ``plan`` (prompt substring -> behaviours per request) says: wrong_side, confidence, nan,
    far, prose, 500."""

    def __init__(self, plan=None):
        self.plan = plan or {}
        self.requests = Counter()
        self.calls = 0
        self.lock = threading.Lock()

    def __enter__(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][1]["content"]
                price, atr = map(float, _PRICE.search(prompt).groups())
                behaviour = fake.behaviour(prompt)
                if behaviour == "500":
                    return self.send(500, b'{"error": {"message": "boom"}}')
                answer = {
                    "recommendation": "BUY",
                    "bias": "bullish",
                    "target": price + 3 * atr,
                    "stop_loss": price - 2 * atr,
                    "confidence": 0.7,
                }
                if behaviour == "wrong_side":
                    answer["stop_loss"] = price + 2 * atr
                elif behaviour == "confidence":
                    answer["confidence"] = 1.7
                elif behaviour == "nan":
                    answer["target"] = float("nan")
                elif behaviour == "far":
                    answer["target"] = price * 10
                content = "Looks bullish to me." if behaviour == "prose" else json.dumps(answer)
                payload = {
                    "choices": [{"message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 30},
                }
                self.send(200, json.dumps(payload).encode())

            def send(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def behaviour(self, prompt):
        with self.lock:
            self.calls += 1
            for key, plan in self.plan.items():
                if key in prompt:
                    self.requests[key] += 1
                    n = self.requests[key]
                    return plan[n - 1] if n <= len(plan) else plan[-1]
            return "ok"


@pytest.fixture(scope="module")
def candles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("candles")
    path, _ = simulate("BTCUSDT", seed=5, start_date=date(2026, 11, 1), days=1)
    rows = list(read_candles(write_candles(folder, path)))
    df = pd.DataFrame([(r.symbol, *r.values) for r in rows], columns=CANDLES_SCHEMA.names)
    df["open_time"] = pd.to_datetime(df["open_time"], unit="ms", utc=True)
    df["close_time"] = pd.to_datetime(df["close_time"], unit="ms", utc=True)
    return df


def _path(closes, spread=0.5):
    closes = np.asarray(closes, float)
    t = pd.date_range("2026-11-01", periods=len(closes), freq="1min", tz="UTC")
    return pd.DataFrame(
        {
            "symbol": "X",
            "open_time": t,
            "open": closes,
            "high": closes + spread,
            "low": closes - spread,
            "close": closes,
            "volume": 1.0,
        }
    )


def test_realised_trade_on_hand_built_paths():
    flat = [100.0] * 80
    up = flat[:70] + [100 + k for k in range(1, 11)]
    s = SampleSettings(lookback=20, horizon=10, atr_period=5, rsi_period=5)
    for closes, want_long in ((up, 1), ([*flat[:70], *(100 - k for k in range(1, 11))], -1)):
        df = prepare_candles(_path(closes), s)  # ATR = 1 (the 1.0 candle range)
        idx = np.array([69])
        pnl, outcome = realised_trade(
            df, idx, np.array([1.0]), np.array([3.0]), np.array([2.0]), 10
        )
        assert outcome[0] == want_long and pnl[0] == (3.0 if want_long == 1 else -2.0)
        pnl, outcome = realised_trade(
            df, idx, np.array([-1.0]), np.array([3.0]), np.array([2.0]), 10
        )
        assert outcome[0] == -want_long
    df = prepare_candles(_path(flat), s)
    pnl, outcome = realised_trade(
        df, np.array([60]), np.array([1.0]), np.array([3.0]), np.array([3.0]), 10
    )
    assert outcome[0] == 0 and pnl[0] == 0.0  # time barrier, no move
    # both barriers inside one candle: the stop is taken (we cannot know the order)
    wide = _path([*flat[:70], 100, *flat[:9]])
    wide.loc[70, ["high", "low"]] = [110.0, 90.0]
    df = prepare_candles(wide, s)
    _, outcome = realised_trade(
        df, np.array([69]), np.array([1.0]), np.array([3.0]), np.array([2.0]), 10
    )
    assert outcome[0] == -1


def test_triple_barrier_labels_without_an_llm(candles):
    run = label_points(candles, SampleSettings(points=120, seed=3))
    labels = run.labels
    assert run.stats["mode"] == "triple_barrier" and len(labels) == 120
    assert run.stats["uniform"] == 60 and run.stats["vol_weighted"] == 60
    assert set(labels["recommendation"]) <= {"BUY", "SELL", "HOLD"}
    assert (labels["recommendation"] == labels["realised_recommendation"]).all()
    buy = labels[labels["recommendation"] == "BUY"]
    assert (buy["target"] > buy["close"]).all() and (buy["stop_loss"] < buy["close"]).all()
    assert labels["open_time"].is_monotonic_increasing
    again = label_points(candles, SampleSettings(points=120, seed=3)).labels
    pd.testing.assert_frame_equal(labels, again)


def test_gaps_keep_windows_whole(candles):
    gappy = candles.drop(index=range(300, 420))  # two hours missing
    df = prepare_candles(gappy, SampleSettings())
    idx, _ = sample_points(df, SampleSettings(points=10_000))
    seg = df["segment"].to_numpy()
    assert (seg[idx - 59] == seg[idx]).all() and (seg[idx + 60] == seg[idx]).all()
    with pytest.raises(InputError, match="no point with 60 candles of history"):
        label_points(candles.iloc[:100], SampleSettings())


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"recommendation": "BUY", "stop_loss": 101}, "BUY needs stop_loss < price"),
        ({"recommendation": "SELL", "target": 101}, "SELL needs target < price"),
        ({"confidence": 1.5}, "confidence 1.5 not in"),
        ({"target": float("inf")}, "target inf is not a finite number"),
        ({"target": 500.0}, "ATRs from price"),
        ({"bias": "moon"}, "bias 'moon'"),
        ({"stop_loss": True}, "stop_loss True is not a finite number"),
    ],
)
def test_validate_answer_names_the_problem(answer, reason):
    good = {
        "recommendation": "BUY",
        "bias": "bullish",
        "target": 103,
        "stop_loss": 98,
        "confidence": 0.5,
    }
    assert validate_answer(good, 100.0, 1.0, 20) is None
    assert reason in validate_answer({**good, **answer}, 100.0, 1.0, 20)


def _endpoint(server, **kw):
    return LLMEndpoint(
        base_url=server.base_url,
        model="fake-trader",
        api_key_env=None,
        max_retries=1,
        backoff_base_s=0.0,
        price_in_per_1k=0.5,
        price_out_per_1k=1.5,
        **kw,
    )


def test_llm_labels_validated_retried_quarantined_cached(candles, tmp_path):
    settings = SampleSettings(points=12, seed=1)
    df = prepare_candles(candles, settings)
    idx, _ = sample_points(df, settings)
    when = [f"{t:%Y-%m-%d %H:%M}" for t in df["open_time"].iloc[idx]]
    plan = {
        when[0]: ["wrong_side", "ok"],  # repaired on the retry
        when[1]: ["confidence"],  # never valid: quarantined
        when[2]: ["nan", "far", "ok"],  # valid on the last retry
        when[3]: ["500"],  # the endpoint fails: counted
        when[4]: ["prose", "ok"],  # not JSON: the client's own retry
    }
    cache = tmp_path / "cache"
    with TradeLLMServer(plan) as server:
        run = label_points(candles, settings, _endpoint(server), cache, sleep=lambda s: None)
        assert run.stats["mode"] == "llm" and run.stats["points"] == 12
        assert len(run.labels) == 10 and run.stats["invalid"] == 2
        reasons = {r["open_time"][:16].replace("T", " "): r["reason"] for r in run.invalid}
        assert "1.7 is greater than the maximum of 1" in reasons[when[1]]  # the schema
        assert "HTTP 500" in reasons[when[3]]
        assert server.requests[when[0]] == 2 and server.requests[when[2]] == 3
        assert run.stats["tokens_in"] > 0 and run.stats["estimated_cost_usd"] > 0
        assert (run.labels["source"] == "llm").all()
        buy = run.labels
        assert (buy["stop_loss"] < buy["close"]).all() and (buy["target"] > buy["close"]).all()
        calls = server.calls
        cached = label_points(candles, settings, _endpoint(server), cache, sleep=lambda s: None)
        assert cached.stats["cache_hits"] == 10
        assert server.calls - calls == cached.stats["calls_made"] > 0  # only the two invalid
    with TradeLLMServer() as other:  # another endpoint: its own cache entries
        fresh = label_points(candles, settings, _endpoint(other), cache, sleep=lambda s: None)
        assert fresh.stats["cache_hits"] == 0 and len(fresh.labels) == 12


def test_trade_label_model_scored_against_realised_and_naive(candles):
    settings = SampleSettings(points=200, seed=2)
    run = label_points(candles, settings)
    model = train_trade_label_model(run.labels, candles, settings)
    m = model.metrics
    assert m["n_train"] + m["n_test"] == 200 and m["label_source"] == "triple_barrier"
    assert m["naive_next_close"]["trades"] == 0 and m["naive_next_close"]["pnl_atr_total"] == 0
    assert m["labels_themselves"]["accuracy_vs_realised"] == 1.0
    assert 0 <= m["model"]["accuracy_vs_realised"] <= 1
    assert sum(map(sum, model.confusion)) == m["n_test"]
    with pytest.raises(InputError, match="needs at least 30 train"):
        train_trade_label_model(run.labels.iloc[:20], candles, settings)
    one_class = run.labels.assign(recommendation="BUY")
    with pytest.raises(InputError, match=r"classes \['BUY'\]"):
        train_trade_label_model(one_class, candles, settings)


def test_a_rerun_over_more_candles_asks_only_about_new_points(tmp_path):
    folder = tmp_path / "two_days"
    folder.mkdir()
    path, _ = simulate("ETHUSDT", seed=9, start_date=date(2026, 11, 1), days=2)
    rows = list(read_candles(write_candles(folder, path)))
    two = pd.DataFrame([(r.symbol, *r.values) for r in rows], columns=CANDLES_SCHEMA.names)
    two["open_time"] = pd.to_datetime(two["open_time"], unit="ms", utc=True)
    one = two[two["open_time"] < pd.Timestamp("2026-11-02", tz="UTC")]
    settings = SampleSettings(points=60, seed=5)
    first = set(label_points(one, settings).labels["open_time"])
    second = set(label_points(two, settings).labels["open_time"])
    eligible_before = pd.Timestamp("2026-11-01 23:00", tz="UTC")  # 60 candles of future
    assert {t for t in second if t < eligible_before} <= first
    assert len(second - first) >= 20  # the new day brings its own points
    with TradeLLMServer() as server:
        cache = tmp_path / "cache"
        label_points(one, settings, _endpoint(server), cache, sleep=lambda s: None)
        before = server.calls
        run = label_points(two, settings, _endpoint(server), cache, sleep=lambda s: None)
    assert run.stats["cache_hits"] == len(second & first)
    assert server.calls - before == len(second - first)
