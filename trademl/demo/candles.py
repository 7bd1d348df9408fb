"""1-minute candles in Binance's kline CSV layout, built from the order-book price path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from trademl.demo.files import atomic_open
from trademl.demo.market import STEP_S, PricePath

# Rows follow the Binance kline CSV layout (no header): trademl.ingest.market.KLINE_COLUMNS.
ROWS_PER_MINUTE = 60 // STEP_S


def write_candles(out_dir: Path, path: PricePath) -> list[Path]:
    """``<SYMBOL>-1m-<YYYY-MM-DD>.csv`` per day; returns the files written."""
    n_min = len(path.price) // ROWS_PER_MINUTE
    shape = (n_min, ROWS_PER_MINUTE)
    px = path.price[: n_min * ROWS_PER_MINUTE].reshape(shape)
    vol = path.volume[: n_min * ROWS_PER_MINUTE].reshape(shape)
    buy = (path.volume * path.buy_share)[: n_min * ROWS_PER_MINUTE].reshape(shape)
    o, h, lo, c = px[:, 0], px.max(axis=1), px.min(axis=1), px[:, -1]
    v, taker_v = vol.sum(axis=1), buy.sum(axis=1)
    quote = (px * vol).sum(axis=1)
    taker_q = (px * buy).sum(axis=1)
    trades = np.maximum(1, (v * (40.0 if path.symbol == "BTCUSDT" else 3.0)).astype(np.int64))
    # candles open on the minute, whatever the feature rows' millisecond jitter
    open_ms = (path.epoch_ms[: n_min * ROWS_PER_MINUTE : ROWS_PER_MINUTE] // 60_000) * 60_000
    written: list[Path] = []
    by_day: dict[str, list[str]] = {}
    for k in range(n_min):
        day = datetime.fromtimestamp(int(open_ms[k]) // 1000, UTC).strftime("%Y-%m-%d")
        by_day.setdefault(day, []).append(
            f"{open_ms[k]},{o[k]:.8f},{h[k]:.8f},{lo[k]:.8f},{c[k]:.8f},{v[k]:.8f},"
            f"{open_ms[k] + 59_999},"
            f"{quote[k]:.8f},{trades[k]},{taker_v[k]:.8f},{taker_q[k]:.8f},0\n"
        )
    for day, lines in by_day.items():
        file = out_dir / f"{path.symbol}-1m-{day}.csv"
        with atomic_open(file) as fh:
            fh.writelines(lines)
        written.append(file)
    return written
