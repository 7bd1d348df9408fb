"""Order-book features every 5 s, like the Go bot's FeatureRecord: mean-reverting and trending.

The price follows an Ornstein-Uhlenbeck process around a slowly moving anchor in the
mean-reverting regime and a drifting random walk in the trending one; a Markov chain switches
between them. Book imbalance leans towards the next move, so a gate model has something to learn.

The last day of a demo of two days or more is another market (:data:`LAST_DAY_SHIFT`): volatility
up, trends more frequent, longer and steeper, the book more lopsided and bid-heavy. It is drawn
from its own random stream after the earlier days are simulated, so those days are the bytes they
always were; the drift report must see the change and the drift sensor retrain on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from trademl.demo.files import atomic_open
from trademl.ingest.market import FEATURE_COLUMNS as RECORD_FEATURES

STEP_S = 5
WINDOW = 60  # rows in the rolling vwap / std-dev window (5 minutes)
#: The CSV header: what ingest reads (trademl.ingest.market), in the Go bot's FeatureRecord order.
FEATURE_COLUMNS = ("symbol", "timestamp", *RECORD_FEATURES)
START_PRICE = {"BTCUSDT": 82_000.0, "ETHUSDT": 3_100.0}
BASE_VOL = 0.00035  # per-step log-vol, ~0.5% a minute-hour mix for majors


@dataclass(frozen=True)
class RegimeShift:
    """How the last demo day differs from the others (1.0 / 0.0: no change)."""

    vol: float = 1.8  # volatility multiple
    to_trend: float = 3.0  # multiple of the switch rate into the trending regime
    to_revert: float = 0.4  # multiple of the switch rate back to mean reversion
    trend_drift: float = 2.0  # multiple of the trending drift
    imbalance_noise: float = 0.4  # book-imbalance noise (0.25 on the other days)
    imbalance_bias: float = 0.15  # bid-heavy lean of the book (0.0 on the other days)


LAST_DAY_SHIFT = RegimeShift()
_NO_SHIFT = RegimeShift(1.0, 1.0, 1.0, 1.0, 0.25, 0.0)


@dataclass
class PricePath:
    """A symbol's clean 5-second path: what candles are built from."""

    symbol: str
    epoch_ms: np.ndarray  # int64, row timestamps
    price: np.ndarray
    volume: np.ndarray  # base-asset volume traded in each 5 s step
    buy_share: np.ndarray  # taker-buy share of that volume


def simulate(symbol: str, *, seed: int, start_date: date, days: int) -> tuple[PricePath, dict]:
    """The price path and the feature columns of one symbol."""
    rng = np.random.default_rng([seed, sum(symbol.encode())])
    n = days * 86_400 // STEP_S
    vol = BASE_VOL
    z = rng.standard_normal(n)
    z_anchor = rng.standard_normal(n)
    u = rng.random(n)
    regime, log_p = _walk(rng, z, z_anchor, u, math.log(START_PRICE.get(symbol, 100.0)), vol)
    shift_from = n - 86_400 // STEP_S if days >= 2 else n
    first_move = log_p[shift_from] - log_p[shift_from - 1] if shift_from < n else 0.0
    if shift_from < n:
        # The last day, redrawn from its own stream starting where the day before ended.
        shifted = np.random.default_rng([seed, sum(symbol.encode()), 2])
        _, tail = _walk(
            shifted,
            shifted.standard_normal(n - shift_from),
            shifted.standard_normal(n - shift_from),
            shifted.random(n - shift_from),
            float(log_p[shift_from - 1]),
            vol,
            shift=LAST_DAY_SHIFT,
            state=int(regime[shift_from - 1]),
        )
        log_p[shift_from:] = tail
    price = np.exp(log_p)
    step = np.diff(price, prepend=price[0])
    next_move = np.append(np.diff(log_p), 0.0) / vol
    if shift_from < n:  # the day before's last book leans as it always did: its bytes stay put
        next_move[shift_from - 1] = first_move / vol
    volume = rng.lognormal(mean=0.0, sigma=0.6, size=n) * (2.0 if symbol == "BTCUSDT" else 30.0)
    imbalance = 0.35 * np.tanh(next_move) + 0.25 * rng.standard_normal(n)
    if shift_from < n:
        noise = np.random.default_rng([seed, sum(symbol.encode()), 3])
        extra = noise.standard_normal(n - shift_from)
        imbalance[shift_from:] = (
            0.35 * np.tanh(next_move[shift_from:])
            + LAST_DAY_SHIFT.imbalance_noise * extra
            + LAST_DAY_SHIFT.imbalance_bias
        )
    book = rng.lognormal(mean=3.0, sigma=0.4, size=n) * (1.0 if symbol == "BTCUSDT" else 12.0)
    bid_vol, ask_vol = book * np.exp(imbalance), book * np.exp(-imbalance)
    buy_share = np.clip(
        0.5 + 0.3 * np.tanh(step / (price * vol)) + 0.05 * rng.standard_normal(n), 0.02, 0.98
    )

    pv_sum = _rolling_sum(price * volume)
    v_sum = _rolling_sum(volume)
    vwap = pv_sum / v_sum
    mean = _rolling_sum(price) / _window_len(n)
    var = np.maximum(_rolling_sum(price * price) / _window_len(n) - mean * mean, 0.0)
    std_dev = np.sqrt(var)
    price_dist = np.where(std_dev > 0, (price - vwap) / np.where(std_dev > 0, std_dev, 1.0), 0.0)
    ups = _rolling_sum((step > 0).astype(float))
    downs = _rolling_sum((step < 0).astype(float))
    tick_ratio = np.where(ups + downs > 0, ups / np.maximum(ups + downs, 1.0), 0.5)

    t0 = int(datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC).timestamp())
    epoch_ms = (t0 + np.arange(n, dtype=np.int64) * STEP_S) * 1000 + rng.integers(0, 250, n)
    features = {
        "tick_ratio": tick_ratio,
        "depth_ratio": bid_vol / ask_vol,
        "price_dist": price_dist,
        "price": price,
        "vwap": vwap,
        "std_dev": std_dev,
        "bid_vol": bid_vol,
        "ask_vol": ask_vol,
    }
    return PricePath(symbol, epoch_ms, price, volume, buy_share), features


def _walk(
    rng: np.random.Generator,
    z: np.ndarray,
    z_anchor: np.ndarray,
    u: np.ndarray,
    start: float,
    vol: float,
    *,
    shift: RegimeShift | None = None,
    state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(regime, log price) of the Markov-switching walk; ``shift`` changes its parameters."""
    n = len(z)
    s = shift or _NO_SHIFT
    step_vol = vol * s.vol
    switch = (1 / 720 * s.to_trend, 1 / 720 * s.to_revert)  # a regime lasts ~an hour by default
    regime = np.empty(n, dtype=np.int8)
    log_p = np.empty(n)
    anchor = x = start
    drift = 0.0
    if state == 1:  # a trend already under way keeps a direction
        drift = float(rng.choice((-1.0, 1.0))) * vol * 0.03 * s.trend_drift
    for i in range(n):
        if u[i] < switch[state]:
            state = 1 - state
            drift = float(rng.choice((-1.0, 1.0))) * vol * 0.03 * s.trend_drift
        if state == 0:
            anchor += 0.05 * step_vol * z_anchor[i]
            x += 0.02 * (anchor - x) + step_vol * z[i]
        else:
            x += drift + step_vol * z[i]
            anchor = x
        regime[i], log_p[i] = state, x
    return regime, log_p


def _rolling_sum(a: np.ndarray) -> np.ndarray:
    c = np.cumsum(np.concatenate(([0.0], a)))
    idx = np.arange(1, len(a) + 1)
    return c[idx] - c[np.maximum(idx - WINDOW, 0)]


def _window_len(n: int) -> np.ndarray:
    return np.minimum(np.arange(1, n + 1), WINDOW).astype(float)


def rfc3339_ms(epoch_ms: int) -> str:
    secs, ms = divmod(int(epoch_ms), 1000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def _bad_rows(n: int, seed: int, symbol: str) -> dict[int, str]:
    """≈0.1% of rows, each with one defect: nan price, inf price or missing timestamp."""
    rng = np.random.default_rng([seed, sum(symbol.encode()), 99])
    count = max(1, n // 1000)
    rows = rng.choice(n, size=count, replace=False)
    kinds = ("nan_price", "inf_price", "missing_timestamp")
    return {int(r): kinds[k % 3] for k, r in enumerate(sorted(rows))}


def write_features(path: Path, path_data: PricePath, features: dict, *, seed: int, fmt: str) -> int:
    """Write the feature rows as JSONL or CSV; returns how many rows carry an injected defect."""
    bad = _bad_rows(len(path_data.price), seed, path_data.symbol)
    cols = [features[c] for c in FEATURE_COLUMNS[2:]]
    sym = path_data.symbol
    with atomic_open(path) as fh:
        if fmt == "csv":
            fh.write(",".join(FEATURE_COLUMNS) + "\n")
        for i, ms in enumerate(path_data.epoch_ms):
            tick, depth, dist, price, vwap, std, bid, ask = (float(c[i]) for c in cols)
            stamp = rfc3339_ms(ms)
            defect = bad.get(i)
            price_s = f"{price:.2f}"
            if defect == "nan_price":
                price_s = "NaN" if fmt == "jsonl" else "nan"
            elif defect == "inf_price":
                price_s = '"inf"' if fmt == "jsonl" else "inf"
            if fmt == "csv":
                fh.write(
                    f"{sym},{'' if defect == 'missing_timestamp' else stamp},"
                    f"{tick:.4f},{depth:.5f},"
                    f"{dist:.5f},{price_s},{vwap:.2f},{std:.4f},{bid:.4f},{ask:.4f}\n"
                )
                continue
            ts = "" if defect == "missing_timestamp" else f'"timestamp":"{stamp}",'
            fh.write(
                f'{{"symbol":"{sym}",{ts}"tick_ratio":{tick:.4f},"depth_ratio":{depth:.5f},'
                f'"price_dist":{dist:.5f},"price":{price_s},"vwap":{vwap:.2f},"std_dev":{std:.4f},'
                f'"bid_vol":{bid:.4f},"ask_vol":{ask:.4f}}}\n'
            )
    return len(bad)
