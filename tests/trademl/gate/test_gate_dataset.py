"""σ-reversion labels on hand-built price paths, segments at feed gaps, quarantine, and no leakage."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from trademl.demo.market import simulate
from trademl.gate import FEATURES
from trademl.gate.dataset import LabelSettings, build_gate_dataset
from trademl.ingest.market import FEATURE_COLUMNS

T0 = pd.Timestamp("2026-11-01T00:00:00Z")
COLUMNS = FEATURE_COLUMNS  # the market_features columns, as ingest writes them


def frame(times_s, prices, dists, symbol="BTCUSDT") -> pd.DataFrame:
    n = len(prices)
    data = {c: np.full(n, 1.0) for c in COLUMNS}
    data["price"] = np.asarray(prices, float)
    data["price_dist"] = np.asarray(dists, float)
    return pd.DataFrame(
        {"symbol": symbol, "timestamp": [T0 + pd.Timedelta(seconds=t) for t in times_s], **data}
    )


#: 10 rows, 10 s apart. Window 30 s (4 rows), at least 3 of them; lookahead 20 s (2 rows on).
#: σ at rows 2-5 is std(100, 101, ...) = 0.577; at rows 6-7 std(101, 100, 101, 94) = 3.37.
#: Row 4 (price above VWAP) falls 6 = 10.4σ: a reversal. Row 6 (above VWAP) rises 14 = 4.2σ:
#: not a reversal, but an absolute move. Rows 0-1 are warm-up, rows 8-9 have no lookahead.
PRICES = [100, 101, 100, 101, 100, 101, 94, 101, 108, 101]
DISTS = [1.0] * 10
SETTINGS = dict(lookahead_s=20, window_s=30, min_window_rows=3, threshold=1.5)


@pytest.mark.parametrize(
    "rule, labels", [("reversal", [0, 0, 1, 0, 0, 0]), ("absolute", [0, 0, 1, 0, 1, 0])]
)
def test_labels_on_a_hand_built_path(rule, labels):
    table, _, stats = build_gate_dataset(
        frame(range(0, 100, 10), PRICES, DISTS), LabelSettings(rule=rule, **SETTINGS)
    )
    assert table["label"].tolist() == labels
    assert stats.dropped_warmup == 2 and stats.dropped_lookahead_past_end == 2
    assert stats.rows_out == 6
    assert table["sigma"].iloc[0] == pytest.approx(np.std([100, 101, 100], ddof=1))
    assert table["sigma"].iloc[4] == pytest.approx(np.std([101, 100, 101, 94], ddof=1))
    # t1 is the row two steps on (lookahead 20 s at 10 s spacing).
    assert (table["t1"] - table["ts"]).dt.total_seconds().tolist() == [20.0] * 6


def test_reversal_needs_the_move_against_price_dist():
    below = [
        -1.0
    ] * 10  # price below VWAP: the fall at row 4 is away from it, the rise at 6 toward it
    table, _, _ = build_gate_dataset(
        frame(range(0, 100, 10), PRICES, below), LabelSettings(rule="reversal", **SETTINGS)
    )
    assert table["label"].tolist() == [0, 0, 0, 0, 1, 0]


def test_a_gap_longer_than_the_lookahead_ends_a_segment():
    # Rows at 0..90 s, then the feed stops for 300 s and restarts: no label looks across the gap
    # and the restart warms up its window again.
    times = list(range(0, 100, 10)) + list(range(390, 490, 10))
    table, _, stats = build_gate_dataset(
        frame(times, PRICES * 2, DISTS * 2), LabelSettings(**SETTINGS)
    )
    assert stats.segments == 2
    assert stats.dropped_warmup == 4 and stats.dropped_lookahead_past_end == 4
    assert (table["t1"] - table["ts"]).dt.total_seconds().max() == 20.0
    assert table["segment"].nunique() == 2
    assert table.groupby("segment")["label"].apply(list).tolist() == [[0, 0, 1, 0, 0, 0]] * 2


def test_irregular_spacing_uses_the_first_row_at_or_after_the_lookahead():
    times = [0, 7, 13, 31, 33, 52, 60, 61, 85, 90]
    table, _, _ = build_gate_dataset(frame(times, PRICES, DISTS), LabelSettings(**SETTINGS))
    t = (table["ts"] - T0).dt.total_seconds().to_numpy()
    t1 = (table["t1"] - T0).dt.total_seconds().to_numpy()
    for start, end in zip(t, t1, strict=True):
        later = [x for x in times if x >= start + 20]
        assert end == later[0]


def test_unsorted_duplicates_and_bad_values():
    base = frame(range(0, 100, 10), PRICES, DISTS)
    bad_price = base.iloc[[3]].assign(timestamp=T0 + pd.Timedelta(seconds=200), price=np.nan)
    inf_dist = base.iloc[[3]].assign(timestamp=T0 + pd.Timedelta(seconds=210), price_dist=np.inf)
    clash = base.iloc[[5]].assign(price=555.0)  # same time as row 5, different values
    shuffled = pd.concat([base.iloc[::-1], base.iloc[[2]], bad_price, inf_dist, clash])
    table, quarantine, stats = build_gate_dataset(shuffled, LabelSettings(**SETTINGS))
    assert stats.rows_in == 14 and stats.duplicates == 1
    assert sorted(quarantine["reason"]) == sorted(
        ["non-finite price", "non-finite price_dist"]
        + ["duplicate timestamp with different values"] * 2
    )
    assert stats.quarantined == 4
    assert table["ts"].is_monotonic_increasing


def test_split_is_chronological_80_20():
    path, features = simulate("BTCUSDT", seed=3, start_date=date(2026, 11, 1), days=1)
    f = pd.DataFrame(features).assign(
        symbol="BTCUSDT", timestamp=pd.to_datetime(path.epoch_ms, unit="ms", utc=True)
    )
    table, _, stats = build_gate_dataset(f.iloc[:4000])
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    assert train["ts"].max() < test["ts"].min()
    assert abs(len(test) / len(table) - 0.2) < 0.01
    assert stats.train_rows + stats.test_rows == stats.rows_out == len(table)


def test_no_feature_uses_data_after_its_row():
    """Scramble everything after a cut: every row before it keeps its features, σ and segment,
    and every label that ends before the cut is unchanged."""
    path, features = simulate("ETHUSDT", seed=5, start_date=date(2026, 11, 1), days=1)
    f = (
        pd.DataFrame(features)
        .assign(symbol="ETHUSDT", timestamp=pd.to_datetime(path.epoch_ms, unit="ms", utc=True))
        .iloc[:3000]
    )
    cut = f["timestamp"].iloc[2000]
    future = f["timestamp"] > cut
    rng = np.random.default_rng(0)
    scrambled = f.copy()
    for col in COLUMNS:
        scrambled.loc[future, col] = scrambled.loc[future, col] * rng.uniform(
            0.5, 1.5, future.sum()
        )
    scrambled = scrambled[~(future & (rng.random(len(f)) < 0.3))]  # and drop rows: gaps appear
    a, _, _ = build_gate_dataset(f)
    b, _, _ = build_gate_dataset(scrambled)
    keep = ["ts", *FEATURES, "sigma", "segment"]
    past_a, past_b = a[a["ts"] <= cut][keep], b[b["ts"] <= cut][keep]
    # Rows near the cut may lose their label (lookahead now past a new gap); those left agree.
    merged = past_a.merge(past_b, on="ts", suffixes=("_a", "_b"))
    assert len(merged) > 0.9 * len(past_a)
    for col in keep[1:]:
        np.testing.assert_array_equal(merged[f"{col}_a"], merged[f"{col}_b"])
    ended = a[a["t1"] <= cut][["ts", "label"]].merge(b[["ts", "label"]], on="ts")
    np.testing.assert_array_equal(ended["label_x"], ended["label_y"])


def test_every_row_is_accounted_for_on_hostile_frames():
    """Any mix of NaN, inf, negative prices, shuffled and repeated times: no crash, and
    rows_in = duplicates + quarantined + warm-up + past-the-end + labelled."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tests.robustness.contracts import SETTINGS

    value = st.one_of(
        st.floats(90, 110), st.just(float("nan")), st.just(float("inf")), st.just(-1.0)
    )
    row = st.tuples(st.sampled_from(["A", "B"]), st.integers(0, 400), value, st.floats(-3, 3))

    @settings(SETTINGS, max_examples=60)
    @given(st.lists(row, min_size=0, max_size=80))
    def check(rows):
        data = frame([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
        data["symbol"] = [r[0] for r in rows]
        table, quarantine, s = build_gate_dataset(
            data, LabelSettings(lookahead_s=20, window_s=30, min_window_rows=2)
        )
        assert (
            s.rows_in
            == len(rows)
            == (
                s.duplicates
                + s.quarantined
                + s.dropped_warmup
                + s.dropped_lookahead_past_end
                + s.rows_out
            )
        )
        assert len(quarantine) == s.quarantined and len(table) == s.rows_out
        assert np.isfinite(table[["price", "sigma", "move_sigma"]].to_numpy()).all()
        assert (table["t1"] > table["ts"]).all()

    check()


def test_many_segments_keep_exact_times():
    """600 feed gaps, 1 ms jitter: windows and lookaheads match a row-by-row reading exactly."""
    rng = np.random.default_rng(1)
    times, t = [], 0.0
    for i in range(3000):
        t += 500.0 if i % 5 == 0 else 10.0 + rng.integers(0, 1000) / 1000
        times.append(t)
    prices = 100 + np.cumsum(rng.normal(0, 0.5, 3000))
    table, _, _ = build_gate_dataset(
        frame(times, prices, rng.normal(size=3000)),
        LabelSettings(lookahead_s=20, window_s=25, min_window_rows=2),
    )
    ts = (table["ts"] - T0).dt.total_seconds().to_numpy()
    t1 = (table["t1"] - T0).dt.total_seconds().to_numpy()
    arr = np.asarray(times)
    for start, end in zip(ts, t1, strict=True):
        nxt = arr[(arr >= start + 20 - 1e-9)][0]
        assert abs(end - nxt) < 2e-6 and end - start < 30  # timestamps are whole µs
