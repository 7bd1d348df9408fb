"""gate_drift on the demo's simulated market: a few hours of a stable day with a feed gap do not
alarm; a few hours of the regime-change day do."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from trademl.demo.market import simulate
from trademl.gate import FEATURES
from trademl.gate.dataset import LabelSettings, build_gate_dataset
from trademl.gate.runtime import heuristic_proba
from trademl.ingest.market import FEATURE_COLUMNS
from trademl.monitoring.gate_drift import DriftSettings, gate_drift


@pytest.fixture(scope="module")
def market():
    path, features = simulate("ETHUSDT", seed=3, start_date=date(2026, 11, 1), days=4)
    frame = pd.DataFrame(
        {
            "symbol": "ETHUSDT",
            "timestamp": pd.to_datetime(path.epoch_ms, unit="ms", utc=True),
            **{c: features[c] for c in FEATURE_COLUMNS},
        }
    )
    dataset, _, _ = build_gate_dataset(frame, LabelSettings())
    return frame, dataset


def _hours(frame, day, start_h, end_h, gap=(1.0, 1.5)):
    ts = frame["timestamp"]
    hour = (ts - pd.Timestamp(day, tz="UTC")).dt.total_seconds() / 3600
    keep = (hour >= start_h) & (hour < end_h) & ~((hour >= gap[0]) & (hour < gap[1]))
    return frame[keep]


@pytest.mark.parametrize(("day", "drifts"), [("2026-11-02", False), ("2026-11-04", True)])
def test_a_few_hours_with_a_gap(market, day, drifts):
    frame, dataset = market
    current = _hours(frame, day, 0, 3)
    assert np.diff(current["timestamp"].to_numpy()).max() > np.timedelta64(20, "m")
    in_day = pd.to_datetime(dataset["ts"]).dt.strftime("%Y-%m-%d") == day
    reference = dataset[(dataset["split"] == "train") & ~in_day]
    result = gate_drift(
        reference,
        current,
        lambda rows: np.clip(heuristic_proba(rows), 0, 1),
        FEATURES,
        DriftSettings(replicates=100),
    )
    assert result.current_rows == len(current) < 2_200
    assert result.block_rows <= len(current) // 4
    assert result.drifted is drifts, result.summary()
