"""Fit the gate: Pipeline(StandardScaler, boosting or MLP), grid-searched under purged k-fold CV.

The splitter is ``purgedcv.PurgedKFold`` (purged k-fold with embargo, López de Prado, AFML ch. 7):
a scikit-learn CV splitter released 2026-10 whose dependencies (numpy, pandas, scipy, scikit-learn)
are the pins we already have, checked here with scikit-learn 1.9.1 and numpy 2.4 and against a
hand-worked example (tests/trademl/gate/test_training.py). skfolio has a combinatorial purged CV
too, but it is a portfolio-optimisation stack (cvxpy and friends) for one class we would use.
Training rows whose label interval [t, t1] overlaps a test fold are purged; rows starting within
``embargo_s`` after a test fold are embargoed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Literal

import numpy as np
import pandas as pd

from trademl.errors import TradeMLError
from trademl.gate.dataset import feature_matrix

Estimator = Literal["gbc", "hist_gbc", "mlp"]

#: The desks' grid (81 settings).
DESK_GRID: dict[str, list] = {
    "n_estimators": [50, 100, 200],
    "max_depth": [3, 5, 7],
    "learning_rate": [0.01, 0.1, 0.2],
    "subsample": [0.8, 0.9, 1.0],
}
#: A sub-grid of it that trains in well under 90 s on 2 cores (the demo and the default).
QUICK_GRID: dict[str, list] = {
    "n_estimators": [50, 100],
    "max_depth": [3, 5],
    "learning_rate": [0.1],
    "subsample": [0.8, 1.0],
}
HIST_GRID: dict[str, list] = {
    "max_iter": [50, 100, 200],
    "max_depth": [3, 5, 7],
    "learning_rate": [0.01, 0.1, 0.2],
}
MLP_GRID: dict[str, list] = {
    "hidden_layer_sizes": [(16,), (32, 16)],
    "alpha": [1e-4, 1e-3],
}


class NotEnoughData(TradeMLError):
    """Too few rows, or one class only: the gate cannot be trained (the message has the counts)."""


@dataclass(frozen=True)
class TrainSettings:
    estimator: Estimator = "gbc"
    full_grid: bool = False
    search: Literal["halving", "grid"] = "halving"
    n_splits: int = 4
    embargo_s: float = 60.0
    #: The search fits on at most this many of the most recent training rows; the best setting is
    #: then refit on all of them.
    search_max_rows: int = 30_000
    min_train_rows: int = 200
    min_class_rows: int = 20
    random_state: int = 0
    n_jobs: int = 1


@dataclass
class TrainedGate:
    pipeline: Any
    best_params: dict
    n_candidates: int
    cv_auc: float
    cv_auc_std: float
    seconds: float
    n_train: int
    n_purged_at_split: int
    cv_results: dict = field(default_factory=dict)


def param_grid(settings: TrainSettings) -> dict[str, list]:
    if settings.estimator == "gbc":
        return DESK_GRID if settings.full_grid else QUICK_GRID
    if settings.estimator == "hist_gbc":
        return (
            HIST_GRID
            if settings.full_grid
            else {"max_iter": [100], "max_depth": [3, 5], "learning_rate": [0.1]}
        )
    return MLP_GRID


def make_pipeline(estimator: Estimator, random_state: int = 0):
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = {
        "gbc": lambda: GradientBoostingClassifier(random_state=random_state),
        "hist_gbc": lambda: HistGradientBoostingClassifier(random_state=random_state),
        "mlp": lambda: MLPClassifier(max_iter=300, early_stopping=True, random_state=random_state),
    }[estimator]()
    return Pipeline([("scaler", StandardScaler()), ("model", model)])


def purged_kfold(times: pd.Series, t1: pd.Series, n_splits: int, embargo_s: float):
    """Purged k-fold over rows ordered by time (``times`` = when a row is known, ``t1`` = label end)."""
    from purgedcv import PurgedKFold

    return PurgedKFold(
        n_splits=n_splits,
        prediction_times=pd.Series(times.to_numpy()),
        evaluation_times=pd.Series(t1.to_numpy()),
        embargo=pd.Timedelta(seconds=embargo_s) if embargo_s > 0 else None,
    )


def check_trainable(
    train: pd.DataFrame, settings: TrainSettings, name: str = "gate_dataset"
) -> None:
    """NotEnoughData with the counts when the train split is too small or has one class."""
    n = len(train)
    pos = int(train["label"].sum()) if n else 0
    neg = n - pos
    if n < settings.min_train_rows:
        raise NotEnoughData(
            f"{name}: {n:,} training rows, at least {settings.min_train_rows:,} needed "
            "(more market_features days, or a shorter window/lookahead)"
        )
    if min(pos, neg) < settings.min_class_rows:
        raise NotEnoughData(
            f"{name}: {n:,} training rows with {pos:,} positive and {neg:,} negative labels; "
            f"at least {settings.min_class_rows:,} of each class needed (adjust threshold or rule)"
        )


def train_split(table: pd.DataFrame, embargo_s: float) -> tuple[pd.DataFrame, int]:
    """Training rows, ordered by time, minus those whose label runs into the test period."""
    train = table[table["split"] == "train"].sort_values(["ts", "symbol"], kind="stable")
    test = table[table["split"] == "test"]
    if test.empty:
        return train.reset_index(drop=True), 0
    limit = test["ts"].min() - pd.Timedelta(seconds=embargo_s)
    kept = train[train["t1"] < limit]
    return kept.reset_index(drop=True), len(train) - len(kept)


def fit_gate(
    table: pd.DataFrame,
    settings: TrainSettings | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> TrainedGate:
    """Search the grid under purged CV on the train split, refit the best on all of it."""
    settings = settings or TrainSettings()
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV

    train, purged = train_split(table, settings.embargo_s)
    check_trainable(train, settings)
    grid = {f"model__{k}": v for k, v in param_grid(settings).items()}
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    search_rows = train.iloc[-settings.search_max_rows :].reset_index(drop=True)
    check_trainable(search_rows, settings)
    cv = purged_kfold(search_rows["ts"], search_rows["t1"], settings.n_splits, settings.embargo_s)
    x_search, y_search = feature_matrix(search_rows), search_rows["label"].to_numpy()
    started = time.perf_counter()
    common = dict(scoring="roc_auc", cv=cv, n_jobs=settings.n_jobs, refit=False)
    if settings.search == "halving" and n_candidates > 3:
        search = HalvingGridSearchCV(
            make_pipeline(settings.estimator, settings.random_state),
            grid,
            factor=3,
            min_resources=max(len(search_rows) // 9, settings.min_train_rows),
            random_state=settings.random_state,
            **common,
        )
    else:
        search = GridSearchCV(
            make_pipeline(settings.estimator, settings.random_state), grid, **common
        )
    search.fit(x_search, y_search)
    results = search.cv_results_
    last = np.asarray(results.get("iter", np.zeros(len(results["params"]))))
    best = int(np.nanargmax(np.where(last == last.max(), results["mean_test_score"], -np.inf)))
    best_params = {k.removeprefix("model__"): v for k, v in results["params"][best].items()}
    log(
        f"onnx_gate: {n_candidates} settings searched ({settings.search}, {settings.n_splits}-fold "
        f"purged CV, {len(search_rows):,} rows) in {time.perf_counter() - started:.1f} s; best "
        f"{best_params} CV AUC {results['mean_test_score'][best]:.4f}"
    )
    pipeline = make_pipeline(settings.estimator, settings.random_state)
    pipeline.set_params(**results["params"][best])
    pipeline.fit(feature_matrix(train), train["label"].to_numpy())
    return TrainedGate(
        pipeline=pipeline,
        best_params=best_params,
        n_candidates=n_candidates,
        cv_auc=float(results["mean_test_score"][best]),
        cv_auc_std=float(results["std_test_score"][best]),
        seconds=time.perf_counter() - started,
        n_train=len(train),
        n_purged_at_split=purged,
        cv_results={
            "params": [str(p) for p in results["params"]],
            "mean_test_score": [float(s) for s in results["mean_test_score"]],
            "iter": [int(i) for i in last],
        },
    )


def grid_settings(settings: TrainSettings) -> list[dict]:
    """Every setting of the grid (what the deflated Sharpe ratio counts as trials)."""
    grid = param_grid(settings)
    return [dict(zip(grid, values, strict=True)) for values in product(*grid.values())]


def feature_importance(pipeline, x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Impurity importance for tree models; permutation importance (AUC) for the MLP."""
    from trademl.gate.runtime import FEATURES

    model = pipeline.named_steps["model"]
    if hasattr(model, "feature_importances_"):
        values = model.feature_importances_
    else:
        from sklearn.inspection import permutation_importance

        n = min(len(x), 5000)
        result = permutation_importance(
            pipeline, x[-n:], y[-n:], scoring="roc_auc", n_repeats=3, random_state=seed
        )
        values = np.maximum(result.importances_mean, 0)
        total = values.sum()
        values = values / total if total > 0 else values
    return {f: float(v) for f, v in zip(FEATURES, values, strict=True)}
