"""σ-reversion labels on order-book feature rows: the gate's training table.

For each row at time t, σ is the standard deviation of price over the trailing ``window_s``
(rows at or before t only, same segment), and the move is ``(price(t1) - price(t)) / σ`` where t1 is
the first row at or after ``t + lookahead_s``. ``reversal``: label 1 when the move exceeds
``threshold`` against the sign of price_dist (back toward VWAP); ``absolute``: when |move| exceeds
it. A feed gap longer than the lookahead ends a segment: no window and no lookahead crosses it.
Rows whose lookahead runs past the end of their segment have no label and are dropped (counted),
never labelled 0; so are rows whose window holds fewer than ``min_window_rows`` prices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from trademl.errors import InputError
from trademl.gate.runtime import FEATURES
from trademl.ingest.market import FEATURE_COLUMNS as MARKET_COLUMNS

Rule = Literal["reversal", "absolute"]


@dataclass(frozen=True)
class LabelSettings:
    lookahead_s: float = 60.0
    threshold: float = 1.5
    rule: Rule = "reversal"
    window_s: float = 300.0
    min_window_rows: int = 10
    test_fraction: float = 0.2

    def __post_init__(self):
        if self.rule not in ("reversal", "absolute"):
            raise InputError("gate_dataset config", f"rule {self.rule!r} is not reversal|absolute")
        for name in ("lookahead_s", "threshold", "window_s"):
            if not getattr(self, name) > 0:
                raise InputError("gate_dataset config", f"{name} must be > 0")
        if not 0 < self.test_fraction < 1:
            raise InputError("gate_dataset config", "test_fraction must be in (0, 1)")


@dataclass
class DatasetStats:
    rows_in: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    dropped_warmup: int = 0
    dropped_lookahead_past_end: int = 0
    rows_out: int = 0
    positive_ratio: float = 0.0
    train_rows: int = 0
    test_rows: int = 0
    test_start: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def clean_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, DatasetStats]:
    """(clean rows sorted by symbol and time, quarantined rows with a reason, stats).

    Exact duplicate rows are dropped and counted; rows with a missing symbol or time, a
    non-finite or non-positive price, or a time shared by rows that disagree are quarantined.
    """
    missing = [c for c in ("symbol", "timestamp", *MARKET_COLUMNS) if c not in frame.columns]
    if missing:
        raise InputError("market_features", f"missing columns {', '.join(missing)}")
    stats = DatasetStats(rows_in=len(frame))
    df = frame[["symbol", "timestamp", *MARKET_COLUMNS]].reset_index(drop=True)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, errors="coerce")
    values = df[list(MARKET_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    df[list(MARKET_COLUMNS)] = values
    reason = pd.Series("", index=df.index, dtype=object)
    finite = np.isfinite(values.to_numpy(dtype=np.float64))
    for j, col in enumerate(MARKET_COLUMNS):
        reason[~finite[:, j]] += f"non-finite {col}; "
    reason[df["timestamp"].isna()] += "missing timestamp; "
    reason[df["symbol"].isna() | (df["symbol"].astype(str).str.strip() == "")] += "missing symbol; "
    reason[finite[:, 3] & (values["price"] <= 0)] += "non-positive price; "
    bad = reason != ""
    df = df.sort_values(["symbol", "timestamp"], kind="stable")
    before = len(df)
    df = df.drop_duplicates()
    stats.duplicates = before - len(df)
    good = df[~bad.loc[df.index].to_numpy()]
    clash = good.duplicated(["symbol", "timestamp"], keep=False)
    reason.loc[clash[clash].index] += "duplicate timestamp with different values; "
    bad = reason != ""
    rejected = df[bad.loc[df.index].to_numpy()]
    quarantine = pd.DataFrame(
        {
            "source": "gate_dataset",
            "symbol": rejected["symbol"].astype(str),
            "timestamp": rejected["timestamp"].astype(str),
            "reason": reason.loc[rejected.index].str.rstrip("; "),
            "raw": rejected.astype(str).to_json(orient="records", lines=True).splitlines()
            if len(rejected)
            else [],
        }
    )
    stats.quarantined = len(quarantine)
    stats.reasons = {str(k): int(v) for k, v in quarantine["reason"].value_counts().items()}
    clean = df[~bad.loc[df.index].to_numpy()].reset_index(drop=True)
    return clean, quarantine, stats


def _segment_ids(ts_s: np.ndarray, symbol_change: np.ndarray, lookahead_s: float) -> np.ndarray:
    """A new segment at each symbol change and after each gap longer than the lookahead."""
    gap = np.diff(ts_s, prepend=ts_s[:1]) > lookahead_s
    return np.cumsum(gap | symbol_change)


def label_rows(clean: pd.DataFrame, settings: LabelSettings) -> tuple[pd.DataFrame, DatasetStats]:
    """Trailing σ, t1 and label per row of ``clean`` (sorted by symbol, time); unlabelled rows dropped."""
    stats = DatasetStats()
    n = len(clean)
    if n == 0:
        return _empty_table(), stats
    ts_us = clean["timestamp"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    ts_s = ts_us / 1e6
    symbols = clean["symbol"].to_numpy()
    symbol_change = np.r_[True, symbols[1:] != symbols[:-1]]
    segment = _segment_ids(ts_s, symbol_change, settings.lookahead_s)
    stats.segments = int(segment[-1])
    price = clean["price"].to_numpy(dtype=np.float64)

    # Trailing window [t - window_s, t] inside the segment: cumulative sums, searchsorted bounds.
    # Segment ids grow along the sorted rows, so (segment, time) is one sortable key: exact
    # integer microseconds, each segment offset past the reach of any window or lookahead.
    window_us = int(round(settings.window_s * 1e6))
    lookahead_us = int(round(settings.lookahead_s * 1e6))
    rel = ts_us - ts_us.min()
    key = segment.astype(np.int64) * (int(rel.max()) + window_us + lookahead_us + 1) + rel
    start = np.searchsorted(key, key - window_us, side="left")
    csum = np.r_[0.0, np.cumsum(price)]
    csq = np.r_[0.0, np.cumsum(price * price)]
    idx = np.arange(n)
    count = idx + 1 - start
    mean = (csum[idx + 1] - csum[start]) / count
    var = np.maximum((csq[idx + 1] - csq[start]) / count - mean * mean, 0.0)
    sigma = np.sqrt(var * count / np.maximum(count - 1, 1))
    warm = (count >= settings.min_window_rows) & (sigma > 0)

    # Lookahead: the first row at or after t + lookahead_s in the same segment.
    ahead = np.searchsorted(key, key + lookahead_us, side="left")
    in_data = ahead < n
    ahead_c = np.minimum(ahead, n - 1)
    has_future = in_data & (segment[ahead_c] == segment)
    stats.dropped_warmup = int((~warm).sum())
    stats.dropped_lookahead_past_end = int((warm & ~has_future).sum())
    keep = warm & has_future

    move = np.where(keep, (price[ahead_c] - price) / np.where(sigma > 0, sigma, 1.0), 0.0)
    dist = clean["price_dist"].to_numpy(dtype=np.float64)
    if settings.rule == "reversal":
        label = (-np.sign(dist) * move) > settings.threshold
    else:
        label = np.abs(move) > settings.threshold
    table = clean.rename(columns={"timestamp": "ts"}).copy()
    table["ts"] = pd.to_datetime(ts_us, unit="us", utc=True)
    table["sigma"] = sigma
    table["segment"] = segment.astype(np.int64)
    table["move_sigma"] = move
    table["t1"] = pd.to_datetime(ts_us[ahead_c], unit="us", utc=True)
    table["label"] = label.astype(np.int64)
    table = table[keep].reset_index(drop=True)
    stats.rows_out = len(table)
    return table, stats


def assign_split(table: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, str | None]:
    """Chronological split over all symbols: the last ``test_fraction`` of the times is test."""
    if table.empty:
        table["split"] = pd.Series(dtype=object)
        return table, None
    order = table.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    cut = int(np.floor(len(order) * (1 - test_fraction)))
    cut = min(max(cut, 1), len(order) - 1) if len(order) > 1 else len(order)
    test_start = order["ts"].iloc[cut] if cut < len(order) else None
    order["split"] = np.where(np.arange(len(order)) < cut, "train", "test")
    if test_start is not None:
        # Rows tied at the cut time all go to test, so no time is on both sides.
        order.loc[order["ts"] >= test_start, "split"] = "test"
    return order, None if test_start is None else test_start.isoformat()


def build_gate_dataset(
    frame: pd.DataFrame, settings: LabelSettings | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, DatasetStats]:
    """(labelled table ordered by time, quarantined rows, stats) from market_features rows."""
    settings = settings or LabelSettings()
    clean, quarantine, stats = clean_features(frame)
    table, label_stats = label_rows(clean, settings)
    table, test_start = assign_split(table, settings.test_fraction)
    for name in ("segments", "dropped_warmup", "dropped_lookahead_past_end", "rows_out"):
        setattr(stats, name, getattr(label_stats, name))
    stats.positive_ratio = float(table["label"].mean()) if len(table) else 0.0
    stats.train_rows = int((table["split"] == "train").sum())
    stats.test_rows = int((table["split"] == "test").sum())
    stats.test_start = test_start
    columns = ["symbol", "ts", *MARKET_COLUMNS, "sigma", "segment", "move_sigma", "t1", "label"]
    return table[[*columns, "split"]], quarantine, stats


def _empty_table() -> pd.DataFrame:
    cols = {"symbol": pd.Series(dtype=object), "ts": pd.Series(dtype="datetime64[us, UTC]")}
    cols |= {c: pd.Series(dtype=np.float64) for c in (*MARKET_COLUMNS, "sigma", "move_sigma")}
    cols |= {"segment": pd.Series(dtype=np.int64), "t1": pd.Series(dtype="datetime64[us, UTC]")}
    cols |= {"label": pd.Series(dtype=np.int64)}
    return pd.DataFrame(cols)


def feature_matrix(table: pd.DataFrame) -> np.ndarray:
    """The model inputs (FEATURES order) as float64 values that are exactly float32-representable.

    The trees compare float32 features (scikit-learn casts), and float32 is what a bot's feed
    carries; rounding here once keeps training, ONNX and native code on the same numbers.
    """
    return table[list(FEATURES)].to_numpy(dtype=np.float32).astype(np.float64)
