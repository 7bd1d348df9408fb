"""trade_label_model: learn the AI trade labels from the point's own indicators, score on reality.

A scikit-learn Pipeline (scaler + random forest; a few hundred points is forest territory, not
boosting's) predicts the recommendation; two forests predict the target and stop distances in
ATRs. The held-out later points (chronological split) are scored against what the market did:
the recommendation against the realised triple-barrier outcome, and each predicted trade (side,
target, stop) replayed on the realised path, in ATRs. Beside it, the naive next-close baseline
(the next close equals this one: nothing to trade, HOLD) and the last-move baseline (trade in the
direction of the last candle at the barrier distance).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trademl.errors import InputError
from trademl.gate.ai_labels import RECOMMENDATIONS, RETURN_LAGS, SampleSettings, realised_trade

MODEL_FEATURES = ("rsi", "atr_pct", "range_pos", *(f"ret_{lag}" for lag in RETURN_LAGS))
MIN_POINTS = 30
_SIDE = {"BUY": 1.0, "SELL": -1.0, "HOLD": 0.0}


@dataclass
class TradeLabelModel:
    """The fitted pipelines and the figures that judge them."""

    classifier: Any
    target_atr: Any
    stop_atr: Any
    metrics: dict[str, Any]
    confusion: list[list[int]]


def _multiples(labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    atr = labels["atr"].to_numpy()
    return (
        np.abs(labels["target"].to_numpy() - labels["close"].to_numpy()) / atr,
        np.abs(labels["stop_loss"].to_numpy() - labels["close"].to_numpy()) / atr,
    )


def train_trade_label_model(
    labels: pd.DataFrame,
    candles: pd.DataFrame,
    settings: SampleSettings,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> TradeLabelModel:
    """Fit on the earlier points, score the later ones against the realised path."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from trademl.gate.ai_labels import prepare_candles

    if not 0 < test_fraction < 1:
        raise InputError("trade_label_model config", f"test_fraction {test_fraction} not in (0, 1)")
    labels = labels.sort_values("open_time", kind="stable").reset_index(drop=True)
    cut = int(round(len(labels) * (1 - test_fraction)))
    train, test = labels.iloc[:cut], labels.iloc[cut:]
    classes = sorted(set(train["recommendation"]))
    if len(train) < MIN_POINTS or len(test) < 5 or len(classes) < 2:
        raise InputError(
            "ai_trade_labels",
            f"{len(labels)} labelled points ({len(train)} train, {len(test)} test, classes "
            f"{classes}); trade_label_model needs at least {MIN_POINTS} train and 5 test points "
            "and two recommendations: raise ai_trade_labels' points or ingest more candles",
        )
    x_train, x_test = train[list(MODEL_FEATURES)], test[list(MODEL_FEATURES)]

    def forest(kind):
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("forest", kind(n_estimators=200, min_samples_leaf=3, random_state=seed)),
            ]
        )

    clf = forest(RandomForestClassifier).set_params(forest__class_weight="balanced")
    clf.fit(x_train, train["recommendation"])
    t_mult, s_mult = _multiples(train)
    target_model = forest(RandomForestRegressor).fit(x_train, t_mult)
    stop_model = forest(RandomForestRegressor).fit(x_train, s_mult)

    pred = clf.predict(x_test)
    realised = test["realised_recommendation"].to_numpy()
    path = prepare_candles(candles, settings)
    key = pd.MultiIndex.from_frame(path[["symbol", "open_time"]])
    at = key.get_indexer(pd.MultiIndex.from_frame(test[["symbol", "open_time"]]))
    if (at < 0).any():
        raise InputError("candles", f"{int((at < 0).sum())} test points have no candle")
    horizon = settings.horizon
    if (path["pos"].to_numpy()[at] + horizon >= path["seg_len"].to_numpy()[at]).any():
        raise InputError("candles", f"some test points lack {horizon} candles of future")

    def replay(recs, t, s):
        side = np.array([_SIDE[r] for r in recs])
        pnl, _ = realised_trade(path, at, side, np.asarray(t, float), np.asarray(s, float), horizon)
        trades = int((side != 0).sum())
        return {
            "trades": trades,
            "pnl_atr_total": round(float(pnl.sum()), 3),
            "pnl_atr_per_trade": round(float(pnl.sum() / trades), 4) if trades else 0.0,
            "win_rate": round(float((pnl[side != 0] > 0).mean()), 4) if trades else None,
        }

    def scores(recs) -> dict[str, Any]:
        return {
            "accuracy_vs_realised": round(float(accuracy_score(realised, recs)), 4),
            "macro_f1_vs_realised": round(
                float(f1_score(realised, recs, average="macro", labels=list(RECOMMENDATIONS))), 4
            ),
        }

    k = np.full(len(test), settings.barrier_atr)
    last_move = np.where(test["ret_1"] > 0, "BUY", np.where(test["ret_1"] < 0, "SELL", "HOLD"))
    t_true, s_true = _multiples(test)
    t_pred, s_pred = target_model.predict(x_test), stop_model.predict(x_test)
    metrics = {
        "n_train": len(train),
        "n_test": len(test),
        "label_source": str(labels["source"].iloc[0]),
        "model": {
            **scores(pred),
            "agreement_with_labels": round(float((pred == test["recommendation"]).mean()), 4),
            **replay(pred, np.maximum(t_pred, 0.1), np.maximum(s_pred, 0.1)),
            "target_atr_mae": round(float(np.mean(np.abs(t_pred - t_true))), 4),
            "stop_atr_mae": round(float(np.mean(np.abs(s_pred - s_true))), 4),
        },
        "naive_next_close": {
            **scores(np.full(len(test), "HOLD")),
            **replay(["HOLD"] * len(test), k, k),
        },
        "naive_last_move": {**scores(last_move), **replay(last_move, k, k)},
        "labels_themselves": {
            **scores(test["recommendation"].to_numpy()),
            **replay(test["recommendation"].to_numpy(), t_true, s_true),
        },
        "realised_class_share": {
            r: round(float((realised == r).mean()), 4) for r in RECOMMENDATIONS
        },
    }
    for name in ("naive_next_close", "naive_last_move"):
        base = metrics[name]
        metrics[f"beats_{name}"] = bool(
            metrics["model"]["macro_f1_vs_realised"] > base["macro_f1_vs_realised"]
            and metrics["model"]["pnl_atr_per_trade"] > base["pnl_atr_per_trade"]
        )
    confusion = confusion_matrix(realised, pred, labels=list(RECOMMENDATIONS)).tolist()
    return TradeLabelModel(clf, target_model, stop_model, metrics, confusion)


def write_report(lake_reports: Path, version: str, model: TradeLabelModel) -> tuple[str, Path]:
    """``<reports>/trade_label_model/<version>.md`` and its confusion-matrix PNG."""
    from trademl.charts import confusion_matrix_png
    from trademl.lake import atomic_write_text

    m = model.metrics
    png = confusion_matrix_png(
        model.confusion,
        list(RECOMMENDATIONS),
        lake_reports / f"{version}_confusion.png",
        "realised (rows) vs predicted",
    )
    rows = []
    for name in ("model", "naive_next_close", "naive_last_move", "labels_themselves"):
        r = m[name]
        rows.append(
            f"| {name} | {r['accuracy_vs_realised']:.3f} | {r['macro_f1_vs_realised']:.3f} | "
            f"{r['trades']} | {r['pnl_atr_per_trade']:+.3f} | {r['pnl_atr_total']:+.1f} |"
        )
    markdown = "\n".join(
        [
            f"# trade_label_model {version}",
            "",
            f"Trained on {m['n_train']} points labelled by `{m['label_source']}`, scored on the "
            f"{m['n_test']} later points against the realised path (triple barrier).",
            "",
            "| predictor | accuracy | macro-F1 | trades | P&L/trade (ATR) | P&L total (ATR) |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            _verdict(m),
            "",
            f"Target / stop distance MAE (ATRs): {m['model']['target_atr_mae']:.3f} / "
            f"{m['model']['stop_atr_mae']:.3f}. Realised classes: {m['realised_class_share']}.",
            "",
            f"![confusion]({png.name})",
            "",
        ]
    )
    atomic_write_text(lake_reports / f"{version}.md", markdown)
    return markdown, png


def _verdict(m: dict[str, Any]) -> str:
    """One plain sentence: did the model beat both baselines on F1 and on P&L per trade?"""
    if m["beats_naive_next_close"] and m["beats_naive_last_move"]:
        return "**The model beats both naive baselines** (macro-F1 and P&L per trade)."
    beaten = [n for n in ("naive_next_close", "naive_last_move") if m[f"beats_{n}"]]
    return (
        "**The model does not beat every naive baseline** on both macro-F1 and P&L per trade "
        f"(beats: {', '.join(beaten) or 'none'}): treat its recommendations as unproven."
    )
