"""What the gate knows: AUC with a bootstrap interval, F1 at the threshold, and a walk-forward backtest.

The backtest replays the test period through the object a bot calls (:class:`trademl.gate.Gate`):
at each row the strategy may open a reversal trade (against the sign of price_dist, back toward
VWAP) held until the row's label end t1, one position per symbol at a time, paying
``cost_bps`` per trade. Gated = trades the gate approves; ungated = every row with a direction;
heuristic = what the fallback approves. The deflated Sharpe ratio (Bailey & López de Prado,
``purgedcv.deflated_sharpe_ratio``) charges the gated Sharpe for the number of grid settings tried;
the trials' Sharpe variance is taken as the estimator's variance under the null, 1/T per trade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trademl.gate.runtime import DEFAULT_THRESHOLD, Gate


@dataclass(frozen=True)
class EvalSettings:
    threshold: float = DEFAULT_THRESHOLD
    cost_bps: float = 2.0
    bootstrap: int = 300
    seed: int = 0


def auc_with_interval(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> dict:
    """AUC-ROC and a 95 % bootstrap interval; ``learned_nothing`` when the interval covers 0.5."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return {
            "auc": float("nan"),
            "auc_low": float("nan"),
            "auc_high": float("nan"),
            "learned_nothing": True,
        }
    auc = float(roc_auc_score(y, p))
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            scores.append(roc_auc_score(y[idx], p[idx]))
    low, high = np.percentile(scores, [2.5, 97.5]) if scores else (np.nan, np.nan)
    return {
        "auc": auc,
        "auc_low": float(low),
        "auc_high": float(high),
        "learned_nothing": bool(not (low > 0.5 or high < 0.5)),
    }


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import f1_score, precision_score, recall_score

    pred = (p >= threshold).astype(int)
    best_f1, best_at = 0.0, threshold
    if len(y) and 0 < y.sum() < len(y):
        from sklearn.metrics import precision_recall_curve

        prec, rec, cuts = precision_recall_curve(y, p)
        f1s = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
        k = int(np.argmax(f1s))
        best_f1, best_at = float(f1s[k]), float(cuts[k])
    return {
        "max_proba": float(p.max()) if len(p) else 0.0,
        # Diagnostic only: a threshold picked on the test split itself flatters the model.
        "best_f1_on_test": best_f1,
        "best_f1_threshold": best_at,
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "approval_rate": float(pred.mean()) if len(pred) else 0.0,
        "positive_ratio": float(y.mean()) if len(y) else 0.0,
    }


def curves(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """ROC points and a reliability (calibration) curve, for the PNGs."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    step = max(1, len(fpr) // 400)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    mean_p, frac = [], []
    for b in range(bins):
        mask = which == b
        if mask.sum() >= 5:
            mean_p.append(float(p[mask].mean()))
            frac.append(float(y[mask].mean()))
    return {"roc": (fpr[::step].tolist(), tpr[::step].tolist()), "calibration": (mean_p, frac)}


def trade_returns(test: pd.DataFrame, approved: np.ndarray, cost_bps: float) -> pd.DataFrame:
    """Non-overlapping reversal trades per symbol on approved rows: entry at the row, exit at t1."""
    cost = cost_bps / 1e4
    trades = []
    direction = -np.sign(test["price_dist"].to_numpy())
    exit_price = test["price"].to_numpy() + test["move_sigma"].to_numpy() * test["sigma"].to_numpy()
    frame = test.assign(_dir=direction, _exit=exit_price, _ok=approved & (direction != 0))
    for _, rows in frame.groupby("symbol", sort=True):
        busy_until = None
        for ts, t1, price, exit_p, d, ok in zip(
            rows["ts"],
            rows["t1"],
            rows["price"],
            rows["_exit"],
            rows["_dir"],
            rows["_ok"],
            strict=True,
        ):
            if not ok or (busy_until is not None and ts < busy_until):
                continue
            trades.append((ts, d * (exit_p - price) / price - cost))
            busy_until = t1
    out = pd.DataFrame(trades, columns=["ts", "ret"])
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


def strategy_stats(trades: pd.DataFrame, days: float) -> dict:
    r = trades["ret"].to_numpy() if len(trades) else np.zeros(0)
    if len(r) == 0:
        return {
            "trades": 0,
            "win_rate": 0.0,
            "profit_factor": None,
            "sharpe": 0.0,
            "max_drawdown": 0.0,
            "total_return": 0.0,
        }
    wins, losses = r[r > 0].sum(), -r[r < 0].sum()
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    per_trade = r.mean() / sd if sd > 0 else 0.0
    per_year = len(r) / max(days, 1e-9) * 365
    equity = np.cumsum(r)
    drawdown = np.maximum.accumulate(np.r_[0.0, equity])[1:] - equity
    return {
        "trades": int(len(r)),
        "win_rate": float((r > 0).mean()),
        "profit_factor": float(wins / losses) if losses > 0 else None,  # None: no losing trade
        "sharpe": float(per_trade * np.sqrt(per_year)),
        "sharpe_per_trade": float(per_trade),
        "max_drawdown": float(drawdown.max()),
        "total_return": float(equity[-1]),
    }


def deflated_sharpe(trades: pd.DataFrame, n_trials: int) -> float | None:
    from purgedcv import deflated_sharpe_ratio

    r = trades["ret"].to_numpy() if len(trades) else np.zeros(0)
    if len(r) < 3 or r.std() == 0:
        return None
    return float(deflated_sharpe_ratio(r, n_trials=max(int(n_trials), 1), var_sharpe=1.0 / len(r)))


def backtest(test: pd.DataFrame, gate: Gate, settings: EvalSettings, n_trials: int) -> dict:
    """Gated vs ungated vs heuristic on the test rows, replayed through ``gate`` and the fallback."""
    test = test.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    x = test[["tick_ratio", "depth_ratio", "price_dist"]].to_numpy(dtype=np.float64)
    days = (test["ts"].max() - test["ts"].min()).total_seconds() / 86400 if len(test) else 0.0
    _, gated = gate.approve_many(x, settings.threshold)
    _, heuristic = Gate().approve_many(x, settings.threshold)
    out = {}
    for name, approved in (
        ("gated", gated),
        ("ungated", np.ones(len(x), bool)),
        ("heuristic", heuristic),
    ):
        trades = trade_returns(test, approved, settings.cost_bps)
        out[name] = strategy_stats(trades, days)
        if name == "gated":
            out[name]["deflated_sharpe"] = deflated_sharpe(trades, n_trials)
    out["cost_bps"] = settings.cost_bps
    out["n_trials"] = n_trials
    return out


def evaluate_gate(gate: Gate, test: pd.DataFrame, settings: EvalSettings, n_trials: int) -> dict:
    """All figures of the report for one model on the test split (``gate`` is its ONNX runtime)."""
    from trademl.gate.dataset import feature_matrix

    x, y = feature_matrix(test), test["label"].to_numpy()
    p = gate.predict_proba(x)
    metrics = {
        **auc_with_interval(y, p, settings.bootstrap, settings.seed),
        **classification_metrics(y, p, settings.threshold),
        "threshold": settings.threshold,
        "n_test": int(len(y)),
        "backtest": backtest(test, gate, settings, n_trials),
    }
    metrics["_curves"] = (
        curves(y, p) if len(np.unique(y)) > 1 else {"roc": ([], []), "calibration": ([], [])}
    )
    return metrics
