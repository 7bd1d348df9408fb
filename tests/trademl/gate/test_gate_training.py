"""Purged k-fold against a hand-worked example, the grid search, and the too-little-data refusals."""

import numpy as np
import pandas as pd
import pytest

from trademl.gate.training import NotEnoughData, TrainSettings, fit_gate, purged_kfold

T0 = pd.Timestamp("2026-11-01T00:00:00Z")


def test_purged_kfold_matches_the_hand_worked_example():
    """20 rows 10 s apart, each label ending 25 s later, 4 folds, 20 s embargo.

    Fold 1 tests rows 5-9 (t = 50..90 s, labels to 115 s). Purged: rows 3, 4 (labels end at
    55, 65 s, inside the test period) and 10, 11 (start at 100, 110 s, before the last test label
    ends). Embargoed: rows 12, 13 (start within 20 s after 115 s). Train: 0, 1, 2, 14..19.
    """
    times = pd.Series([T0 + pd.Timedelta(seconds=10 * i) for i in range(20)])
    cv = purged_kfold(times, times + pd.Timedelta(seconds=25), n_splits=4, embargo_s=20)
    folds = [(list(tr), list(te)) for tr, te in cv.split(np.zeros((20, 1)))]
    assert [te for _, te in folds] == [list(range(k * 5, k * 5 + 5)) for k in range(4)]
    assert folds[0][0] == list(range(9, 20))
    assert folds[1][0] == [0, 1, 2, *range(14, 20)]
    assert folds[2][0] == [*range(0, 8), 19]
    assert folds[3][0] == list(range(0, 13))


def table(n: int, positives: int | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.Series([T0 + pd.Timedelta(seconds=5 * i) for i in range(n)])
    x = rng.normal(size=(n, 3))
    label = (x[:, 0] + 0.5 * rng.normal(size=n) > 0.8).astype(int)
    if positives is not None:
        label = np.zeros(n, int)
        label[:positives] = 1
    return pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "ts": ts,
            "t1": ts + pd.Timedelta(seconds=60),
            "tick_ratio": x[:, 0],
            "depth_ratio": x[:, 1],
            "price_dist": x[:, 2],
            "label": label,
            "split": np.where(np.arange(n) < int(n * 0.8), "train", "test"),
        }
    )


def test_fit_gate_searches_the_grid_and_purges_the_split_boundary():
    data = table(2500)
    trained = fit_gate(data, TrainSettings(search_max_rows=1500, n_splits=3))
    assert trained.n_candidates == 8 and trained.cv_auc > 0.75
    # Labels end 60 s after their row; with a 60 s embargo, 24 rows (2 minutes) before the
    # test period are purged from training.
    assert trained.n_purged_at_split == 24 and trained.n_train == 2000 - 24
    assert set(trained.best_params) == {"n_estimators", "max_depth", "learning_rate", "subsample"}


def test_too_few_rows_says_how_many():
    # 200 train rows, less the 12 whose 60 s label runs into the test period.
    with pytest.raises(
        NotEnoughData, match=r"gate_dataset: 188 training rows, at least 200 needed"
    ):
        fit_gate(table(250), TrainSettings(embargo_s=0))


def test_one_class_says_the_counts():
    with pytest.raises(NotEnoughData, match=r"0 positive and [0-9,]+ negative labels; at least 20"):
        fit_gate(table(2000, positives=0), TrainSettings())
