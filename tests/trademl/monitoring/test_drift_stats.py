"""Drift statistics against hand-worked values and known-answer streams."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from trademl.errors import InputError
from trademl.monitoring.gate_drift import DriftSettings, gate_drift
from trademl.monitoring.stats import (
    ReferenceBins,
    adwin_error_drift,
    block_bootstrap_indices,
    block_length,
    psi,
    psi_from_shares,
)


def test_psi_hand_worked():
    # shares (0.5, 0.5) -> (0.25, 0.75): 0.25*ln(1.5) - 0.25*ln(0.5) = 0.25*ln(3)
    assert psi_from_shares(np.array([0.5, 0.5]), np.array([0.75, 0.25])) == pytest.approx(
        0.25 * np.log(3)
    )
    ref = np.arange(1000.0)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, ref + 500) > 1.0


def test_reference_bins_ks_matches_scipy_and_held_out_is_the_remainder():
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=5000), rng.normal(0.3, 1.0, size=2000)
    bins = ReferenceBins(ref, grid=2000)
    assert bins.ks(cur) == pytest.approx(scipy_stats.ks_2samp(ref, cur).statistic, abs=2e-3)
    held = ref[:1000]
    remainder = ReferenceBins(ref[1000:])
    direct = psi_from_shares(
        np.bincount(np.searchsorted(bins.edges, ref[1000:]), minlength=len(bins.edges) + 1) / 4000,
        np.bincount(np.searchsorted(bins.edges, cur), minlength=len(bins.edges) + 1) / 2000,
    )
    assert bins.psi(cur, held) == pytest.approx(direct)
    assert remainder.n == 4000


def test_block_bootstrap_never_crosses_a_segment():
    rng = np.random.default_rng(1)
    segments = [(0, 100), (100, 130), (130, 400)]
    idx = block_bootstrap_indices(segments, 1000, 50, rng)
    assert len(idx) == 1000
    blocks = idx.reshape(-1, 50)
    assert (np.diff(blocks, axis=1) == 1).all()
    assert not ((blocks[:, 0] < 100) & (blocks[:, -1] >= 100)).any()
    assert not ((blocks >= 100) & (blocks < 130)).any()  # shorter than a block: never drawn
    assert block_length(10_000, 5.0, 60, 2_000) == 500  # 720 rows capped at a quarter
    assert block_length(10_000, float("nan"), 1, 100_000) == 60


def test_adwin_sees_a_step_in_the_error_and_not_a_flat_stream():
    rng = np.random.default_rng(2)
    flat = adwin_error_drift(rng.binomial(1, 0.2, 3000), rng.binomial(1, 0.2, 3000))
    step = adwin_error_drift(rng.binomial(1, 0.2, 3000), rng.binomial(1, 0.5, 3000))
    assert flat.detections == 0 and not flat.degraded
    assert step.detections >= 1 and step.degraded and step.first_detection < 500
    assert step.mean_error_after > step.mean_error_before


def _frame(rng, n, shift=0.0, start=0.0):
    return pd.DataFrame(
        {
            "symbol": "X",
            "ts": start + np.arange(n) * 5.0 + rng.uniform(0, 2, n),  # irregular spacing
            "a": rng.normal(shift, 1, n),
            "b": rng.uniform(0, 1, n),
        }
    )


def test_gate_drift_small_stable_sample_does_not_alarm_but_a_shift_does():
    rng = np.random.default_rng(3)
    ref = _frame(rng, 20_000)
    ref.loc[5000:, "ts"] += 3600  # a feed gap
    stable = _frame(rng, 300, start=2e5)  # a few minutes of data: PSI is noisy here
    shifted = _frame(rng, 300, shift=0.8, start=2e5)
    proba = lambda rows: 1 / (1 + np.exp(-rows[:, 0]))  # noqa: E731
    settings = DriftSettings(replicates=100)
    calm = gate_drift(ref, stable, proba, ("a", "b"), settings)
    moved = gate_drift(ref, shifted, proba, ("a", "b"), settings)
    assert calm.drift_score < 1.0 and not calm.drifted
    assert psi(ref["a"].to_numpy(), stable["a"].to_numpy()) > 0.01  # fixed 0.01 would alarm
    assert moved.drift_score > 1.0 and moved.features["a"]["ratio"] > moved.features["b"]["ratio"]
    assert moved.prediction["psi"] > moved.prediction["psi_threshold"]
    assert calm.error_drift is None  # no labels: outcomes unknown


def test_gate_drift_names_what_is_missing():
    rng = np.random.default_rng(4)
    with pytest.raises(InputError, match="current day has 50 usable rows; at least 200"):
        gate_drift(_frame(rng, 5000), _frame(rng, 50), lambda r: r[:, 1], ("a", "b"))
    with pytest.raises(InputError, match="missing columns b"):
        gate_drift(_frame(rng, 5000).drop(columns="b"), _frame(rng, 500), None, ("a", "b"))
    bad = _frame(rng, 500)
    bad.loc[:9, "a"] = np.inf
    result = gate_drift(
        _frame(rng, 5000), bad, lambda r: r[:, 1], ("a", "b"), DriftSettings(replicates=20)
    )
    assert result.current_dropped == 10 and result.current_rows == 490
