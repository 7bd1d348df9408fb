"""Order-book features every 5 s, like the Go bot's FeatureRecord: parent orders in two regimes.

The price is a Markov-switching walk: an Ornstein-Uhlenbeck process around a slowly moving anchor
in the mean-reverting regime, a drifting random walk in the trending one. On top of it, most of the
price moves are made by parent orders that execution algos work over 20-40 s (:func:`_walk`):

* **When** they come: algos react to a stretch of price from its recent (5 min) mean; the further
  the stretch, the sooner an order arrives (``ORDER_HAZARD`` per unit of stretch beyond
  ``STRETCH_MIN`` standard deviations).
* **Which way**: in the mean-reverting regime most orders fade the stretch (VWAP-benchmarked and
  value flow buying below the mean, selling above it: ``FADE_PROB``); in the trending regime most
  go with it (momentum). A fade is sized to the stretch it answers and carries the price back
  through the mean (1.2-2.4 times the stretch); a momentum order has a size set by the market's
  pace. Both scale with the day's volatility, so the relation holds in units of σ on any day.
* **What the book shows**: each child order rests in the book for ``CHILD_REST`` steps (a minute)
  before it takes liquidity, so the depth imbalance is the order flow due over the next minute
  (depth / order-flow imbalance leading the mid move, as in Cont, Kukanov & Stoikov 2014), plus
  the queue's lean into the next 5 s move and noise. ``tick_ratio`` (up-ticks over the last 5 min)
  and ``price_dist`` (price - VWAP in rolling standard deviations) come from the path itself.

So a σ-reversion gate has something real to learn, and it needs the book and price_dist together:
a stretched price_dist alone does not say whether a fade or a momentum order comes (that depends
on the regime), the book alone does not say whether the coming flow is a reversal; a book leaning
against the stretch does, and the larger the stretch the larger the fade (tick_ratio adds little).
The signal is strong by construction, as a demo's should be (a gate reaches a test AUC near 0.95
and a blind reversal strategy loses after costs); real books are far noisier.

The last day of a demo of two days or more is another market (:data:`LAST_DAY_SHIFT`): volatility
up, trends more frequent, longer and steeper (so more momentum orders), the book thinner (the same
child orders tilt it more), noisier and bid-heavy. The mechanism (orders, their sizes in σ, what
the book shows) is the same, so a gate trained on the earlier days still scores on it while the
features' distributions move. It is drawn from its own random streams after the earlier days are
simulated, and the earlier days' rows come from the unshifted walk, so their bytes do not depend on
the shift; the drift report must see the change and the drift sensor retrain on it.
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
BASE_VOL = 0.00035  # per-step log-vol scale, ~0.5% a minute-hour mix for majors

#: The walk's own noise, a share of BASE_VOL: the rest of the moves are parent orders.
TICK_NOISE = 0.6
#: Chance per step that an order arrives, per unit of stretch beyond STRETCH_MIN.
ORDER_HAZARD = 0.3
STRETCH_MIN = 0.5  # |price - 5 min EMA| in its standard deviations before algos react
FADE_PROB = (0.8, 0.2)  # chance an order fades the stretch: mean-reverting, trending regime
ORDER_STEPS = (4, 8)  # 5 s steps an order takes liquidity for, after its child orders rested
ORDER_SIZE = (1.2, 2.4)  # a fade's price impact in multiples of its stretch (momentum: of PACE)
PACE = 3.0  # a quiet 5 min window's price standard deviation, in step volatilities
ORDER_CAP = 4.0  # the largest stretch a fade is sized to, in PACE units
MOMENTUM = 1.5  # a momentum order's reach before ORDER_SIZE, in PACE units
CHILD_REST = 12  # steps a child order rests in the book before it trades (one minute)
BOOK_SIGNAL = 0.8  # log depth imbalance when a large order is due within the minute
BOOK_SCALE = 0.5  # impact per step (in step volatilities) at which that imbalance saturates
NEXT_TICK_LEAN = 0.2  # the queue's lean into the next 5 s move


@dataclass(frozen=True)
class RegimeShift:
    """How the last demo day differs from the others (1.0 / 0.0: no change)."""

    vol: float = 1.8  # volatility multiple
    to_trend: float = 3.0  # multiple of the switch rate into the trending regime
    to_revert: float = 0.4  # multiple of the switch rate back to mean reversion
    trend_drift: float = 2.0  # multiple of the trending drift
    imbalance_noise: float = 0.2  # book-imbalance noise (0.12 on the other days)
    imbalance_bias: float = 0.15  # bid-heavy lean of the book (0.0 on the other days)
    book_gain: float = 1.4  # a thinner book: the same child orders tilt it this much more


LAST_DAY_SHIFT = RegimeShift()
_NO_SHIFT = RegimeShift(1.0, 1.0, 1.0, 1.0, 0.12, 0.0, 1.0)


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
    shift_from = n - 86_400 // STEP_S if days >= 2 else n
    walk, carry = _walk(
        _draws(rng, n), math.log(START_PRICE.get(symbol, 100.0)), vol, carry_at=shift_from - 1
    )
    log_p = walk.log_p.copy()
    pressure = walk.book_pressure()
    next_move = np.append(np.diff(log_p), 0.0) / vol  # in step volatilities
    if shift_from < n:
        # The last day, redrawn from its own stream starting where the day before ended (an
        # order under way goes on). The day before keeps its rows: its last minute's book and
        # next move are those of the unshifted walk.
        shifted = np.random.default_rng([seed, sum(symbol.encode()), 2])
        tail, _ = _walk(_draws(shifted, n - shift_from), 0.0, vol, LAST_DAY_SHIFT, carry=carry)
        log_p[shift_from:] = tail.log_p
        pressure[shift_from:] = tail.book_pressure()
        next_move[shift_from:] = np.append(np.diff(tail.log_p), 0.0) / (vol * LAST_DAY_SHIFT.vol)
    price = np.exp(log_p)
    step = np.diff(price, prepend=price[0])
    volume = rng.lognormal(mean=0.0, sigma=0.6, size=n) * (2.0 if symbol == "BTCUSDT" else 30.0)
    book_noise = rng.standard_normal(n) * _NO_SHIFT.imbalance_noise
    bias, gain = np.zeros(n), np.ones(n)
    if shift_from < n:
        noise = np.random.default_rng([seed, sum(symbol.encode()), 3])
        book_noise[shift_from:] = (
            noise.standard_normal(n - shift_from) * LAST_DAY_SHIFT.imbalance_noise
        )
        bias[shift_from:] = LAST_DAY_SHIFT.imbalance_bias
        gain[shift_from:] = LAST_DAY_SHIFT.book_gain
    imbalance = (
        gain * BOOK_SIGNAL * np.tanh(pressure / BOOK_SCALE)
        + NEXT_TICK_LEAN * np.tanh(next_move)
        + book_noise
        + bias
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


def _draws(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Every random number the walk needs, drawn up front in a fixed order."""
    return {
        "z": rng.standard_normal(n),
        "z_anchor": rng.standard_normal(n),
        "u_switch": rng.random(n),
        "u_trend": rng.random(n),
        "u_arrive": rng.random(n),
        "u_fade": rng.random(n),
        "steps": rng.integers(ORDER_STEPS[0], ORDER_STEPS[1] + 1, n),
        "size": rng.uniform(*ORDER_SIZE, n),
    }


@dataclass
class _Walk:
    regime: np.ndarray  # int8 per row: 0 mean-reverting, 1 trending
    log_p: np.ndarray
    push: np.ndarray  # the price impact of a parent order at each step, in step volatilities
    due: np.ndarray  # steps until the order under way after each row is done (0: none)

    def book_pressure(self) -> np.ndarray:
        """Per row, the impact of the child orders resting in the book: those of the order under
        way that trade within the next CHILD_REST steps, per step (signed, step volatilities)."""
        n = len(self.push)
        csum = np.concatenate(([0.0], np.cumsum(self.push)))
        idx = np.arange(n)
        upper = np.minimum(idx + 1 + np.minimum(self.due, CHILD_REST), n)
        return (csum[upper] - csum[idx + 1]) / CHILD_REST


def _walk(
    draws: dict[str, np.ndarray],
    start: float,
    vol: float,
    shift: RegimeShift | None = None,
    *,
    carry: tuple | None = None,
    carry_at: int = -1,
) -> tuple[_Walk, tuple | None]:
    """The Markov-switching walk with parent orders, and its state after row ``carry_at`` (to
    go on from there: ``carry``). ``shift`` changes its parameters."""
    s = shift or _NO_SHIFT
    step_vol = vol * s.vol
    noise_vol, pace = step_vol * TICK_NOISE, step_vol * PACE
    switch = (1 / 720 * s.to_trend, 1 / 720 * s.to_revert)  # a regime lasts ~an hour by default
    trend_step = vol * 0.03 * s.trend_drift
    alpha = 2.0 / (WINDOW + 1)  # the algos' 5 min EMA of price and of its squared deviation
    z, z_anchor = draws["z"].tolist(), draws["z_anchor"].tolist()
    u_switch, u_trend = draws["u_switch"].tolist(), draws["u_trend"].tolist()
    u_arrive, u_fade = draws["u_arrive"].tolist(), draws["u_fade"].tolist()
    steps, size = draws["steps"].tolist(), draws["size"].tolist()
    if carry is None:
        x, state, drift, anchor, ema, ema_var, wait, left, rate = (
            start,
            0,
            0.0,
            start,
            start,
            0.0,
            0,
            0,
            0.0,
        )
    else:
        x, state, drift, anchor, ema, ema_var, wait, left, rate = carry
        if state == 1:  # a trend under way keeps its direction, at this market's pace
            drift = math.copysign(trend_step, drift)
    n = len(z)
    regime = np.empty(n, dtype=np.int8)
    log_p, push = np.empty(n), np.zeros(n)
    due = np.zeros(n, dtype=np.int64)
    saved = None
    for i in range(n):
        if u_switch[i] < switch[state]:
            state = 1 - state
            drift = trend_step if u_trend[i] < 0.5 else -trend_step
        if state == 0:
            anchor += 0.05 * step_vol * z_anchor[i]
            x += 0.02 * (anchor - x) + noise_vol * z[i]
        else:
            x += drift + noise_vol * z[i]
            anchor = x
        if wait > 0:  # the order's first child orders still rest in the book
            wait -= 1
        elif left > 0:  # its child orders take liquidity and push the price
            x += rate
            push[i] = rate / step_vol
            left -= 1
        dev = x - ema
        ema += alpha * dev
        ema_var = (1.0 - alpha) * (ema_var + alpha * dev * dev)
        if left == 0 and ema_var > 0.0:
            stretch = dev / math.sqrt(ema_var)
            if u_arrive[i] < ORDER_HAZARD * (abs(stretch) - STRETCH_MIN):
                fade = -1.0 if stretch > 0 else 1.0
                if u_fade[i] < FADE_PROB[state]:
                    side, reach = fade, min(abs(dev), ORDER_CAP * pace)
                else:
                    side, reach = -fade, MOMENTUM * pace
                wait, left = CHILD_REST, steps[i]
                rate = side * size[i] * reach / left
        regime[i], log_p[i], due[i] = state, x, wait + left
        if i == carry_at:
            saved = (x, state, drift, anchor, ema, ema_var, wait, left, rate)
    return _Walk(regime, log_p, push, due), saved


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
