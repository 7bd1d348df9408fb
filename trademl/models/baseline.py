"""The TF-IDF + logistic-regression signal classifier: the CPU fallback and the bar to beat.

Also home of :func:`classification_metrics` and the split helpers that the transformer trainer
shares, so both models are scored the same way on the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trademl.labels import SIGNAL_CLASSES
from trademl.signals.tokenize import normalize_for_model

#: Name of the text normalisation both models apply, recorded in every saved model.
#: "@2": levels marked above / below the first level (trademl.signals.tokenize.level_marks);
#: "@3": marked against the parser's entry, emoji as words, line breaks as tokens.
NORMALIZATION = "trademl.signals.tokenize.normalize_for_model@3"

BASELINE_KIND = "tfidf-baseline"


@dataclass
class BaselineResult:
    """A trained baseline: where it was written and how it scored on the test split."""

    output_path: Path
    metrics: dict[str, Any]
    n_train: int
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def validate_classification_frame(df: pd.DataFrame, *, who: str) -> pd.DataFrame:
    """Check columns and labels of a ``text,label,split`` frame; return it with clean dtypes."""
    missing = {"text", "label", "split"} - set(df.columns)
    if missing:
        raise ValueError(
            f"{who}: input frame lacks column(s) {sorted(missing)}; expected text,label,split "
            "(the classification_data.csv layout)"
        )
    out = df.copy()
    out["text"] = out["text"].fillna("").astype(str)
    out["label"] = out["label"].astype(str)
    out["split"] = out["split"].astype(str)
    unknown = sorted(set(out["label"]) - set(SIGNAL_CLASSES))
    if unknown:
        n_bad = int(out["label"].isin(unknown).sum())
        raise ValueError(
            f"{who}: {n_bad} of {len(out)} rows carry unknown label(s) {unknown[:5]}; "
            f"labels must be one of {list(SIGNAL_CLASSES)}"
        )
    if not (out["split"] == "train").any():
        raise ValueError(
            f"{who}: no rows with split == 'train' (splits seen: {sorted(set(out['split']))})"
        )
    return out


def evaluation_split(df: pd.DataFrame) -> pd.DataFrame:
    """The rows to report final metrics on: ``test``, else ``validation``, else ``train``."""
    for name in ("test", "validation", "train"):
        part = df[df["split"] == name]
        if len(part):
            return part
    return df


def classification_metrics(y_true: list[str], y_pred: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Macro-F1 averages over the classes present in ``y_true`` or ``y_pred`` only, so a test split
    without SIGNAL_NONE is not punished for it; ``per_class`` still lists all four classes.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(SIGNAL_CLASSES)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = [i for i, lab in enumerate(labels) if lab in set(y_true) | set(y_pred)]
    majority = max((list(y_true).count(lab) for lab in labels), default=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([f[i] for i in present])) if present else 0.0,
        "majority_accuracy": majority / len(y_true) if len(y_true) else 0.0,
        "n": len(y_true),
        "per_class": {
            lab: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i, lab in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "confusion_labels": labels,
    }


def build_baseline_pipeline(seed: int = 0):
    """Word 1–2-gram + char_wb 2–5-gram TF-IDF into a class-balanced logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            # \S+ keeps emoji and arrows as words: after normalisation they stand alone and
            # often carry the direction (📉, ↗️).
            (
                "word",
                TfidfVectorizer(
                    analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+", sublinear_tf=True
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                ),
            ),
        ]
    )
    clf = LogisticRegression(class_weight="balanced", max_iter=2000, C=10.0, random_state=seed)
    return Pipeline([("features", features), ("clf", clf)])


def train_baseline(df: pd.DataFrame, output_path: str | Path, *, seed: int = 0) -> BaselineResult:
    """Fit the TF-IDF baseline on the ``train`` split, score it on ``test``, save it with joblib.

    The file holds a dict: ``pipeline`` (scikit-learn, fed normalised text), ``labels``,
    ``normalization``, ``kind`` and ``metrics``;
    :func:`trademl.models.classifier_runtime.load_classifier` reads it back. An optional
    ``weight`` column becomes the sample weight.
    """
    import joblib

    start = time.perf_counter()
    df = validate_classification_frame(df, who="train_baseline")
    train = df[df["split"] == "train"]
    fit_kwargs = {}
    if "weight" in train.columns:
        fit_kwargs["clf__sample_weight"] = train["weight"].fillna(1.0).astype(float).to_numpy()
    pipeline = build_baseline_pipeline(seed)
    pipeline.fit([normalize_for_model(t) for t in train["text"]], train["label"], **fit_kwargs)

    held_out = evaluation_split(df)
    pred = pipeline.predict([normalize_for_model(t) for t in held_out["text"]])
    metrics = classification_metrics(list(held_out["label"]), list(pred))
    metrics["eval_split"] = str(held_out["split"].iloc[0]) if len(held_out) else ""

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(output_path.name + ".tmp")
    payload = {
        "kind": BASELINE_KIND,
        "pipeline": pipeline,
        "labels": list(SIGNAL_CLASSES),
        "normalization": NORMALIZATION,
        "metrics": metrics,
    }
    joblib.dump(payload, tmp)
    tmp.replace(output_path)
    return BaselineResult(
        output_path=output_path,
        metrics=metrics,
        n_train=len(train),
        seconds=time.perf_counter() - start,
    )
