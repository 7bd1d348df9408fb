"""Market prices at a message's time, from the lake's candles, to check an LLM's entry against."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from trademl.lake import Lake, read_table


class CandlePrices:
    """The close of the last candle at or before a time, per symbol (``raw/candles`` partitions).

    Looks in the message's day and the day before, so a price is at most about two days old;
    older or missing means "no market price" (``None``), never a guess.
    """

    def __init__(self, lake: Lake):
        self.lake = lake
        self._days: dict[dt.date, dict[str, tuple[np.ndarray, np.ndarray]] | None] = {}

    def close_at(self, symbol: str | None, when: Any) -> float | None:
        """The close for ``symbol`` (e.g. ``BTCUSDT``; a ``...USD`` pair also tries ``...USDT``)
        of the last candle opened at or before ``when`` (a datetime or ISO string; naive = UTC)."""
        if not symbol or when is None:
            return None
        try:
            ts = pd.Timestamp(when)
        except (TypeError, ValueError):
            return None
        if pd.isna(ts):
            return None
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        names = [symbol] + ([symbol + "T"] if symbol.endswith("USD") else [])
        at = ts.value  # ns since the epoch
        for day in (ts.date(), ts.date() - dt.timedelta(days=1)):
            table = self._day(day)
            if not table:
                continue
            for name in names:
                if name not in table:
                    continue
                times, closes = table[name]
                i = int(np.searchsorted(times, at, side="right")) - 1
                if i >= 0:
                    return float(closes[i])
        return None

    def _day(self, day: dt.date) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        if day not in self._days:
            path = self.lake.raw("candles", day.isoformat())
            table = None
            if path.exists():
                df = read_table(path, columns=["symbol", "open_time", "close"]).to_pandas()
                df = df.sort_values("open_time")
                times = (
                    df["open_time"].dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()
                )
                table = {}
                for symbol, idx in df.groupby("symbol").indices.items():
                    table[str(symbol)] = (times[idx], df["close"].to_numpy()[idx])
            self._days[day] = table
        return self._days[day]
