"""A gate version directory: the files desks' deploy scripts read, written and parity-checked.

``model.onnx`` (plain tensors), ``pipeline.joblib``, ``training_metrics.json`` (auc_score,
f1_score, n_samples, positive_ratio, best params, ...), ``feature_importance.json``, and
``model.int8.onnx`` only when dynamic quantization changed anything (an MLP; never a tree ensemble).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trademl.errors import TradeMLError
from trademl.gate.dataset import feature_matrix
from trademl.gate.evaluation import auc_with_interval, classification_metrics
from trademl.gate.onnx_export import export_onnx, parity, quantization_effect
from trademl.gate.runtime import DEFAULT_THRESHOLD, FEATURES
from trademl.gate.training import TrainSettings, feature_importance, fit_gate


class ParityError(TradeMLError):
    """The exported ONNX does not reproduce scikit-learn's probabilities."""


@dataclass
class GateBuild:
    metrics: dict
    importance: dict[str, float]
    quantization: dict
    parity_max_abs_diff: float
    train_seconds: float


def build_gate_model(
    table: pd.DataFrame,
    out_dir: str | Path,
    settings: TrainSettings | None = None,
    parity_tolerance: float = 1e-5,
    log: Callable[[str], None] = lambda _: None,
) -> GateBuild:
    """Fit, export and check the gate into ``out_dir``; ParityError / NotEnoughData on failure."""
    import joblib

    settings = settings or TrainSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trained = fit_gate(table, settings, log)
    test = table[table["split"] == "test"]
    x_test, y_test = feature_matrix(test), test["label"].to_numpy()
    model_path = export_onnx(trained.pipeline, out / "model.onnx")
    check = parity(trained.pipeline, model_path, x_test, parity_tolerance)
    if not check.passed:
        raise ParityError(
            f"onnx_gate: max |p_onnx - p_sklearn| = {check.max_abs_diff:.3g} over {check.n:,} "
            f"test rows exceeds {parity_tolerance:g}; not registered"
        )
    quant = quantization_effect(model_path, x_test[:5000])
    log(
        f"onnx_gate: ONNX parity {check.max_abs_diff:.2e} on {check.n:,} rows; quantization: {quant['what_it_did']}"
    )
    joblib.dump(trained.pipeline, out / "pipeline.joblib")
    p = trained.pipeline.predict_proba(x_test)[:, 1] if len(x_test) else np.zeros(0)
    auc = auc_with_interval(y_test, p, 0, 0)["auc"] if len(x_test) else float("nan")
    cls = classification_metrics(y_test, p, DEFAULT_THRESHOLD)
    train = table[table["split"] == "train"]
    importance = feature_importance(
        trained.pipeline, feature_matrix(train), train["label"].to_numpy()
    )
    metrics = {
        "auc_score": auc,
        "f1_score": cls["f1"],
        "precision": cls["precision"],
        "recall": cls["recall"],
        "approval_rate": cls["approval_rate"],
        "threshold": DEFAULT_THRESHOLD,
        "n_samples": int(len(table)),
        "n_train": trained.n_train,
        "n_test": int(len(test)),
        "n_purged_at_split": trained.n_purged_at_split,
        "positive_ratio": float(table["label"].mean()) if len(table) else 0.0,
        "best_params": trained.best_params,
        "estimator": settings.estimator,
        "n_candidates": trained.n_candidates,
        "search": settings.search,
        "cv_auc": trained.cv_auc,
        "cv_auc_std": trained.cv_auc_std,
        "train_seconds": trained.seconds,
        "features": list(FEATURES),
        "onnx_parity_max_abs_diff": check.max_abs_diff,
    }
    (out / "training_metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    (out / "feature_importance.json").write_text(json.dumps(importance, indent=2))
    (out / "quantization.json").write_text(json.dumps(quant, indent=2))
    return GateBuild(metrics, importance, quant, check.max_abs_diff, trained.seconds)
