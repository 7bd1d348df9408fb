"""AI trade labels: sampled candle points labelled by an LLM, or by the triple barrier without one.

Points are sampled from 1-minute candles (uniform plus volatility-weighted, seeded), each with
``lookback`` candles of history (what the model sees: candles, RSI, ATR, returns) and ``horizon``
candles of future (never shown; it scores the label afterwards). The LLM answers JSON
(recommendation, bias, target, stop_loss, confidence); an answer is a label only when it is
coherent with the price it was given: numbers finite and positive, confidence in [0, 1], for BUY
the target above the price and the stop below it (SELL the mirror), neither further than
``max_atr_multiple`` ATRs away. An invalid answer is asked again with the reason; still invalid
after the retries, it is counted and kept aside with the reason. Without an endpoint the labels
are the triple barrier on the realised path (López de Prado, AFML ch. 3): barriers at
±``barrier_atr`` ATR, the first one hit gives BUY or SELL, the time barrier HOLD.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trademl.errors import InputError
from trademl.llm.cache import LabelCache
from trademl.llm.client import ChatClient, LLMEndpoint, MalformedAnswer, parse_json_object

#: Bump when the prompt or the schema changes: cached answers of another version are not reused.
PROMPT_VERSION = "trade-label-v1"
RECOMMENDATIONS = ("BUY", "SELL", "HOLD")
BIASES = ("bullish", "bearish", "neutral")
RETURN_LAGS = (1, 5, 15, 60)
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["recommendation", "bias", "target", "stop_loss", "confidence"],
    "properties": {
        "recommendation": {"type": "string", "enum": list(RECOMMENDATIONS)},
        "bias": {"type": "string", "enum": list(BIASES)},
        "target": {"type": "number"},
        "stop_loss": {"type": "number"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "trade_label", "strict": True, "schema": ANSWER_SCHEMA},
}
SYSTEM_PROMPT = (
    "You are a discretionary crypto trader labelling chart points for a training set. Given the "
    "recent 1-minute candles and indicators of one symbol, answer with ONE JSON object and "
    "nothing else, matching this JSON schema: "
    + json.dumps(ANSWER_SCHEMA)
    + ". recommendation: BUY, SELL or HOLD for the next hour; target and stop_loss are prices: "
    "for BUY the target is above the last close and the stop below it, for SELL the reverse, "
    "for HOLD give the levels you would use if forced to trade your bias. confidence in [0, 1]."
)


@dataclass(frozen=True)
class SampleSettings:
    """Which points are labelled and how (the asset's Config mirrors these)."""

    points: int = 200
    lookback: int = 60
    horizon: int = 60
    vol_share: float = 0.5
    atr_period: int = 14
    rsi_period: int = 14
    barrier_atr: float = 4.0  # 1-minute ATRs: at 2, nearly every hour hits one (no HOLD)
    prompt_candles: int = 20
    max_atr_multiple: float = 20.0
    validation_retries: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.points < 1 or self.lookback < max(self.atr_period, self.rsi_period, 2):
            raise InputError("ai_trade_labels config", "need points >= 1 and lookback >= periods")
        if self.horizon < 1 or not 0 <= self.vol_share <= 1 or not self.barrier_atr > 0:
            raise InputError(
                "ai_trade_labels config", "need horizon >= 1, 0 <= vol_share <= 1, barrier_atr > 0"
            )


def prepare_candles(candles: pd.DataFrame, settings: SampleSettings) -> pd.DataFrame:
    """Candles sorted per symbol with segment ids (a gap or a non-minute step starts a new one),
    Wilder ATR and RSI, log returns over RETURN_LAGS and the close's place in the lookback range."""
    missing = [c for c in ("symbol", "open_time", "high", "low", "close") if c not in candles]
    if missing:
        raise InputError("candles", f"missing columns {', '.join(missing)}")
    df = candles[["symbol", "open_time", "open", "high", "low", "close", "volume"]].copy()
    df["open_time"] = pd.to_datetime(df["open_time"], utc=True)
    df = df.dropna().drop_duplicates(["symbol", "open_time"]).sort_values(["symbol", "open_time"])
    df = df[(df["close"] > 0) & (df["low"] > 0)].reset_index(drop=True)
    step = df.groupby("symbol")["open_time"].diff()
    df["segment"] = (step != pd.Timedelta(minutes=1)).cumsum()
    prev_close = df.groupby("segment")["close"].shift()
    tr = pd.concat(
        [df["high"] - df["low"], (df["high"] - prev_close).abs(), (df["low"] - prev_close).abs()],
        axis=1,
    ).max(axis=1)
    change = df["close"] - prev_close
    by_seg = df["segment"]

    def wilder(values: pd.Series, period: int) -> pd.Series:
        return values.groupby(by_seg).transform(
            lambda s: s.ewm(alpha=1 / period, adjust=False, min_periods=period).mean()
        )

    df["atr"] = wilder(tr, settings.atr_period)
    gain, loss = (
        wilder(change.clip(lower=0), settings.rsi_period),
        wilder((-change).clip(lower=0), settings.rsi_period),
    )
    df["rsi"] = np.where(loss > 0, 100 - 100 / (1 + gain / loss.where(loss > 0, 1)), 100.0)
    log_close = np.log(df["close"])
    for lag in RETURN_LAGS:
        df[f"ret_{lag}"] = log_close - log_close.groupby(by_seg).shift(lag)
    hi = df.groupby("segment")["high"].transform(lambda s: s.rolling(settings.lookback).max())
    lo = df.groupby("segment")["low"].transform(lambda s: s.rolling(settings.lookback).min())
    df["range_pos"] = ((df["close"] - lo) / (hi - lo).where(hi > lo)).fillna(0.5)
    df["atr_pct"] = df["atr"] / df["close"]
    df["pos"] = df.groupby("segment").cumcount()
    df["seg_len"] = df.groupby("segment")["close"].transform("size")
    return df


def sample_points(df: pd.DataFrame, settings: SampleSettings) -> tuple[np.ndarray, dict[str, int]]:
    """Row indices of the sampled points (uniform, then volatility-weighted), and counts.

    Sampling is by a stable hash of (seed, symbol, candle time), not by a random stream: the
    uniform part takes the points with the smallest hash (bottom-k), the weighted part the largest
    ``log(u) / atr_pct`` among the rest (Efraimidis-Spirakis weighted sampling). A point chosen
    from more candles was chosen from fewer too, so an hourly re-run over a growing history asks
    the LLM only about new points; the rest come from the cache.
    """
    max_lag = max(RETURN_LAGS)
    eligible_mask = (
        (df["pos"] >= max(settings.lookback, max_lag) - 1)
        & (df["pos"] + settings.horizon < df["seg_len"])
        & (df["atr"] > 0)
    )
    eligible = np.flatnonzero(eligible_mask.to_numpy())
    n = min(settings.points, len(eligible))
    n_vol = int(round(n * settings.vol_share))
    u_uniform = unit_hash(df.iloc[eligible], settings.seed, salt=1)
    uniform = eligible[np.argsort(u_uniform, kind="stable")[: n - n_vol]]
    rest = np.setdiff1d(eligible, uniform)
    keys = np.log(unit_hash(df.iloc[rest], settings.seed, salt=2)) / df["atr_pct"].to_numpy()[rest]
    weighted = rest[np.argsort(-keys, kind="stable")[:n_vol]]
    picked = np.sort(np.concatenate([uniform, weighted]))
    counts = {"eligible": len(eligible), "uniform": len(uniform), "vol_weighted": len(weighted)}
    return picked, counts


def unit_hash(points: pd.DataFrame, seed: int, salt: int) -> np.ndarray:
    """A uniform (0, 1) number per (seed, salt, symbol, candle time): splitmix64 of the key."""
    ms = (points["open_time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    symbols = {s: zlib.crc32(s.encode()) for s in points["symbol"].unique()}
    sym = points["symbol"].map(symbols).to_numpy(dtype=np.uint64)
    x = ms.to_numpy(dtype=np.int64).view(np.uint64) ^ (sym << np.uint64(32))
    x = x ^ np.uint64((seed * 0x9E3779B1 + salt * 0x85EBCA77) & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53


def realised_trade(
    df: pd.DataFrame,
    idx: np.ndarray,
    side: np.ndarray,
    target_atr: np.ndarray,
    stop_atr: np.ndarray,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(P&L in ATRs, outcome) of trades opened at the closes of ``idx``: side +1 long, -1 short,
    0 none. Outcome 1 target first, -1 stop first (also when both fall in one candle: the
    conservative reading), 0 the time barrier (P&L = the close-to-close move)."""
    high, low, close, atr = (df[c].to_numpy() for c in ("high", "low", "close", "atr"))
    ahead = idx[:, None] + np.arange(1, horizon + 1)[None, :]
    c, a = close[idx], atr[idx]
    up_level = np.where(side >= 0, c + target_atr * a, c + stop_atr * a)
    down_level = np.where(side >= 0, c - stop_atr * a, c - target_atr * a)
    up_hit = _first(high[ahead] >= up_level[:, None])
    down_hit = _first(low[ahead] <= down_level[:, None])
    move = (close[idx + horizon] - c) / a * np.sign(side)
    good_hit, bad_hit = np.where(side >= 0, up_hit, down_hit), np.where(side >= 0, down_hit, up_hit)
    outcome = np.where(bad_hit <= good_hit, -1, 1)
    outcome = np.where(np.minimum(good_hit, bad_hit) > horizon, 0, outcome)
    pnl = np.select([outcome == 1, outcome == -1], [target_atr, -stop_atr], move)
    return np.where(side == 0, 0.0, pnl), np.where(side == 0, 0, outcome)


def _first(hits: np.ndarray) -> np.ndarray:
    """1-based index of the first True per row; horizon + 1 when none."""
    return np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, hits.shape[1] + 1)


def triple_barrier(df: pd.DataFrame, idx: np.ndarray, settings: SampleSettings) -> pd.DataFrame:
    """recommendation / bias / target / stop_loss from the realised path at ±barrier_atr ATR."""
    k = np.full(len(idx), settings.barrier_atr)
    _, long_outcome = realised_trade(df, idx, np.ones(len(idx)), k, k, settings.horizon)
    rec = np.select([long_outcome == 1, long_outcome == -1], ["BUY", "SELL"], "HOLD")
    close, atr = df["close"].to_numpy()[idx], df["atr"].to_numpy()[idx]
    drift = (df["close"].to_numpy()[idx + settings.horizon] - close) / atr
    bias = np.select([drift > 0.5, drift < -0.5], ["bullish", "bearish"], "neutral")
    sign = np.where(rec == "SELL", -1.0, 1.0)
    return pd.DataFrame(
        {
            "recommendation": rec,
            "bias": bias,
            "target": close + sign * k * atr,
            "stop_loss": close - sign * k * atr,
            "confidence": 1.0,  # the realised path is not a guess
        }
    )


def prompt_for(df: pd.DataFrame, i: int, settings: SampleSettings) -> str:
    """The user message for point ``i``: symbol, last close, indicators, recent candles."""
    row = df.iloc[i]
    recent = df.iloc[i - settings.prompt_candles + 1 : i + 1]
    lines = [
        f"{t:%H:%M},{o:.8g},{h:.8g},{lo:.8g},{c:.8g},{v:.6g}"
        for t, o, h, lo, c, v in recent[
            ["open_time", "open", "high", "low", "close", "volume"]
        ].itertuples(index=False)
    ]
    returns = ", ".join(f"{lag}m {row[f'ret_{lag}'] * 100:+.3f}%" for lag in RETURN_LAGS)
    return (
        f"Symbol {row['symbol']}, {row['open_time']:%Y-%m-%d %H:%M} UTC, last close "
        f"{row['close']:.8g}.\nRSI({settings.rsi_period}) {row['rsi']:.1f}; "
        f"ATR({settings.atr_period}) {row['atr']:.6g}; returns {returns}.\n"
        f"Last {len(lines)} 1-minute candles (time,open,high,low,close,volume):\n"
        + "\n".join(lines)
    )


def validate_answer(answer: Any, price: float, atr: float, max_atr_multiple: float) -> str | None:
    """Why ``answer`` cannot be a label at ``price`` (None when it can)."""
    if not isinstance(answer, dict):
        return "answer is not a JSON object"
    if answer.get("recommendation") not in RECOMMENDATIONS:
        return f"recommendation {answer.get('recommendation')!r} not in {RECOMMENDATIONS}"
    if answer.get("bias") not in BIASES:
        return f"bias {answer.get('bias')!r} not in {BIASES}"
    numbers = {}
    for key in ("target", "stop_loss", "confidence"):
        value = answer.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return f"{key} {value!r} is not a finite number"
        numbers[key] = float(value)
    target, stop, confidence = numbers["target"], numbers["stop_loss"], numbers["confidence"]
    if not 0 <= confidence <= 1:
        return f"confidence {confidence:g} not in [0, 1]"
    if target <= 0 or stop <= 0:
        return f"target {target:g} / stop_loss {stop:g} must be positive prices"
    rec = answer["recommendation"]
    if rec == "BUY" and not stop < price < target:
        return (
            f"BUY needs stop_loss < price {price:g} < target; got stop {stop:g}, target {target:g}"
        )
    if rec == "SELL" and not target < price < stop:
        return (
            f"SELL needs target < price {price:g} < stop_loss; got target {target:g}, stop {stop:g}"
        )
    for key, value in (("target", target), ("stop_loss", stop)):
        if abs(value - price) > max_atr_multiple * atr:
            return f"{key} {value:g} is {abs(value - price) / atr:.0f} ATRs from price {price:g}"
    return None


def parse_trade_answer(content: str) -> dict[str, Any]:
    """The answer object, schema-checked (coherence with the price is checked afterwards)."""
    import jsonschema

    answer = parse_json_object(content)
    try:
        jsonschema.validate(answer, ANSWER_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise MalformedAnswer(f"schema: {exc.message}") from None
    return answer


def read_trade_answer(
    content: str, price: float, atr: float, max_atr_multiple: float = 20.0
) -> tuple[dict[str, Any] | None, str | None]:
    """(answer, None) when ``content`` is a usable label at ``price``, else (None, reason).
    Never raises: this is where an LLM's (or an attacker's) text enters the labels."""
    try:
        answer = parse_trade_answer(content)
    except MalformedAnswer as exc:
        return None, str(exc)
    problem = validate_answer(answer, price, atr, max_atr_multiple)
    return (None, problem) if problem else (answer, None)


@dataclass
class TradeLabelRun:
    """Labels (one row per point), answers kept aside, and the run's figures."""

    labels: pd.DataFrame
    invalid: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def label_points(
    candles: pd.DataFrame,
    settings: SampleSettings,
    endpoint: LLMEndpoint | None = None,
    cache_dir=None,
    *,
    sleep: Callable[[float], None] | None = None,
) -> TradeLabelRun:
    """Sample points from ``candles`` and label them (LLM when ``endpoint``, else the barrier)."""
    df = prepare_candles(candles, settings)
    idx, counts = sample_points(df, settings)
    if len(idx) == 0:
        raise InputError(
            "candles",
            f"{len(df)} usable candles give no point with {settings.lookback} candles of history "
            f"and {settings.horizon} of future; ingest more candles",
        )
    barrier = triple_barrier(df, idx, settings)
    base = df.iloc[idx][
        ["symbol", "open_time", "close", "atr", "atr_pct", "rsi", "range_pos"]
        + [f"ret_{lag}" for lag in RETURN_LAGS]
    ].reset_index(drop=True)
    base["realised_recommendation"] = barrier["recommendation"]
    if endpoint is None:
        labels = pd.concat([base, barrier], axis=1).assign(source="triple_barrier")
        stats = {"mode": "triple_barrier", "calls_made": 0, "cache_hits": 0, "invalid": 0}
        stats |= {"tokens_in": 0, "tokens_out": 0, "estimated_cost_usd": 0.0}
        return TradeLabelRun(labels, [], {**stats, **counts, "points": len(idx)})
    return _label_llm(df, idx, base, settings, endpoint, cache_dir, counts, sleep)


def _label_llm(df, idx, base, settings, endpoint, cache_dir, counts, sleep) -> TradeLabelRun:
    client = ChatClient(endpoint, **({"sleep": sleep} if sleep else {}))
    cache = (
        LabelCache(cache_dir, endpoint.model, PROMPT_VERSION, base_url=endpoint.base_url)
        if cache_dir is not None
        else None
    )
    prompts = [prompt_for(df, int(i), settings) for i in idx]
    answers: dict[int, dict[str, Any]] = {}
    reasons: dict[int, str] = {}
    attempts = dict.fromkeys(range(len(idx)), 0)
    last: dict[int, Any] = {}
    for k, prompt in enumerate(prompts):
        hit = cache.get(prompt) if cache is not None else None
        if hit is not None:
            answers[k] = hit["answer"]
    cache_hits = len(answers)
    pending = [k for k in range(len(idx)) if k not in answers]
    tokens_in = tokens_out = calls = 0
    failed: list[int] = []  # the client's own retries are spent (HTTP, timeouts, not JSON)
    for _round in range(settings.validation_retries + 1):
        if not pending:
            break
        conversations = []
        for k in pending:
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompts[k]},
            ]
            if k in reasons and k in last:  # a repair round: say what was wrong
                messages += [
                    {"role": "assistant", "content": json.dumps(last[k])},
                    {"role": "user", "content": f"Invalid: {reasons[k]}. Answer again."},
                ]
            conversations.append(messages)
        results = client.complete_many(conversations, parse_trade_answer, RESPONSE_FORMAT)
        fresh, still = [], []
        for k, result in zip(pending, results, strict=True):
            attempts[k] += result.attempts
            calls += result.attempts
            tokens_in, tokens_out = tokens_in + result.tokens_in, tokens_out + result.tokens_out
            if not result.ok:
                reasons[k] = result.error or "no answer"
                failed.append(k)
                continue
            row = base.iloc[k]
            problem = validate_answer(
                result.value, float(row["close"]), float(row["atr"]), settings.max_atr_multiple
            )
            if problem is None:
                answers[k] = result.value
                reasons.pop(k, None)
                fresh.append((prompts[k], result.value, result.tokens_in, result.tokens_out))
            else:
                reasons[k], last[k] = problem, result.value
                still.append(k)
        if cache is not None:
            cache.put_many(fresh)
        pending = still
    invalid = [
        {
            "symbol": base.iloc[k]["symbol"],
            "open_time": str(base.iloc[k]["open_time"]),
            "close": float(base.iloc[k]["close"]),
            "reason": reasons[k],
            "attempts": attempts[k],
            "last_answer": last.get(k),
        }
        for k in sorted([*pending, *failed])
    ]
    keep = sorted(answers)
    labels = base.iloc[keep].reset_index(drop=True)
    for key in ("recommendation", "bias", "target", "stop_loss", "confidence"):
        labels[key] = [answers[k][key] for k in keep]
    labels["source"] = "llm"
    stats = {
        "mode": "llm",
        "model": endpoint.model,
        "prompt_version": PROMPT_VERSION,
        "calls_made": calls,
        "cache_hits": cache_hits,
        "invalid": len(invalid),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "estimated_cost_usd": round(endpoint.cost_usd(tokens_in, tokens_out), 6),
        "agreement_with_realised": round(
            float((labels["recommendation"] == labels["realised_recommendation"]).mean()), 4
        )
        if len(labels)
        else None,
    }
    return TradeLabelRun(labels, invalid, {**stats, **counts, "points": len(idx)})
