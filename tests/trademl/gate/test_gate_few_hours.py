"""A desk's own feed: three hours, irregular spacing, two feed gaps. Trains, exports and reports
without special handling, and says plainly when the gate learned nothing."""

from datetime import date

import numpy as np
import pandas as pd

from trademl.demo.market import simulate
from trademl.gate import Gate
from trademl.gate.dataset import build_gate_dataset
from trademl.gate.evaluation import EvalSettings, evaluate_gate
from trademl.gate.model_dir import build_gate_model
from trademl.gate.report import gate_report
from trademl.gate.training import TrainSettings
from trademl.lake import Lake


def irregular_feed(hours: float = 3.0, seed: int = 2) -> pd.DataFrame:
    path, features = simulate("SOLUSDT", seed=seed, start_date=date(2026, 11, 1), days=1)
    frame = pd.DataFrame(features).assign(
        symbol="SOLUSDT", timestamp=pd.to_datetime(path.epoch_ms, unit="ms", utc=True)
    )
    rng = np.random.default_rng(seed)
    frame = frame[rng.random(len(frame)) < 0.6]  # irregular: 40 % of the ticks missing
    start = frame["timestamp"].iloc[0]
    frame = frame[frame["timestamp"] < start + pd.Timedelta(hours=hours)]
    for gap_at in (0.3, 0.7):  # the feed stops twice for ten minutes
        t = start + pd.Timedelta(hours=hours * gap_at)
        frame = frame[
            (frame["timestamp"] < t) | (frame["timestamp"] > t + pd.Timedelta(minutes=10))
        ]
    return frame.reset_index(drop=True)


def test_three_hours_of_irregular_data_train_and_report(tmp_path):
    table, _, stats = build_gate_dataset(irregular_feed())
    assert stats.segments == 3 and stats.rows_out > 1000
    built = build_gate_model(table, tmp_path / "v", TrainSettings(n_splits=3), log=lambda _: None)
    assert built.parity_max_abs_diff <= 1e-5
    gate = Gate.load(tmp_path / "v")
    test = table[table["split"] == "test"]
    metrics = evaluate_gate(gate, test, EvalSettings(bootstrap=100), n_trials=8)
    assert metrics["auc_low"] <= metrics["auc"] <= metrics["auc_high"]
    assert metrics["backtest"]["ungated"]["trades"] > 0
    markdown, pngs = gate_report(
        Lake(tmp_path / "lake"), "v1", metrics, built.metrics, built.importance, None, {}
    )
    assert "Walk-forward backtest" in markdown and all(p.exists() for p in pngs.values())


def test_labels_that_carry_no_signal_are_reported_as_learning_nothing(tmp_path):
    table, _, _ = build_gate_dataset(irregular_feed(seed=4))
    table["label"] = np.random.default_rng(0).integers(0, 2, len(table))  # coin flips
    built = build_gate_model(table, tmp_path / "v", TrainSettings(n_splits=3))
    metrics = evaluate_gate(
        Gate.load(tmp_path / "v"), table[table["split"] == "test"], EvalSettings(bootstrap=200), 8
    )
    assert metrics["learned_nothing"] is True
    markdown, _ = gate_report(
        Lake(tmp_path / "lake"), "v1", metrics, built.metrics, built.importance, None, {}
    )
    assert "learned nothing measurable" in markdown


def test_other_estimator_families_build_and_quantization_is_measured(tmp_path):
    table, _, _ = build_gate_dataset(irregular_feed(hours=2))
    for estimator in ("hist_gbc", "mlp"):
        built = build_gate_model(
            table, tmp_path / estimator, TrainSettings(estimator=estimator, n_splits=3)
        )
        assert built.parity_max_abs_diff <= 1e-5 and built.metrics["estimator"] == estimator
        changed = built.quantization["graph_changed"]
        assert changed is (estimator == "mlp"), built.quantization
        assert (tmp_path / estimator / "model.int8.onnx").exists() is changed
