"""Scoring sentiment models: accuracy, macro-F1, per-class P/R/F1, confusion matrix, and the
markdown report that puts VADER alone, the few-shot model alone and the ensemble side by side."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trademl.sentiment.labels import SENTIMENT_LABELS

#: The metrics the promotion check compares (challenger - champion on the same test split).
PROMOTION_KEYS = ("ensemble.macro_f1", "ensemble.accuracy")


def score_labels(true: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the three classes, per-class precision/recall/F1/support and the
    confusion matrix (rows = gold, columns = predicted, :data:`SENTIMENT_LABELS` order)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    true, predicted = list(true), list(predicted)
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} gold labels but {len(predicted)} predictions")
    labels = list(SENTIMENT_LABELS)
    if not true:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_class": {}, "confusion": []}
    p, r, f, s = precision_recall_fscore_support(true, predicted, labels=labels, zero_division=0)
    present = [k for k, lbl in enumerate(labels) if s[k] > 0]
    majority = max(s) / len(true)
    return {
        "n": len(true),
        "accuracy": round(
            float(np.mean([a == b for a, b in zip(true, predicted, strict=True)])), 4
        ),
        # macro over the classes present in the gold labels (a class nobody rated is not scored)
        "macro_f1": round(float(np.mean([f[k] for k in present])), 4),
        "majority_accuracy": round(float(majority), 4),
        "per_class": {
            lbl: {
                "precision": round(float(p[k]), 4),
                "recall": round(float(r[k]), 4),
                "f1": round(float(f[k]), 4),
                "support": int(s[k]),
            }
            for k, lbl in enumerate(labels)
        },
        "confusion": confusion_matrix(true, predicted, labels=labels).tolist(),
    }


def side_by_side(
    true: Sequence[str], predictions: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, Any]]:
    """:func:`score_labels` for each named predictor on the same gold labels."""
    return {name: score_labels(true, pred) for name, pred in predictions.items()}


def sentiment_report(
    folder: Path,
    version: str,
    scores: dict[str, dict[str, Any]],
    routing: dict[str, int],
    champion: dict[str, Any] | None,
    deltas: dict[str, float | None],
    extra: dict[str, Any],
) -> tuple[str, dict[str, Path]]:
    """Write ``<folder>/<version>.md`` and a confusion PNG per predictor; (markdown, pngs)."""
    from trademl.charts import confusion_matrix_png
    from trademl.lake import atomic_write_text

    pngs = {
        f"{name}_confusion": confusion_matrix_png(
            s["confusion"],
            list(SENTIMENT_LABELS),
            folder / f"{version}-{name}-confusion.png",
            f"sentiment {name} {version}: confusion (test)",
        )
        for name, s in scores.items()
        if s["n"]
    }
    n = next(iter(scores.values()))["n"]
    lines = [
        f"# sentiment_model {version}",
        "",
        f"Test split: {n} posts (the newest rated or human-labelled posts; none seen in training).",
        "",
        "| predictor | accuracy | macro-F1 | "
        + " | ".join(f"F1 {c}" for c in SENTIMENT_LABELS)
        + " |",
        "|---|---|---|" + "---|" * len(SENTIMENT_LABELS),
    ]
    for name, s in scores.items():
        lines.append(
            f"| {name} | {_fmt(s['accuracy'])} | {_fmt(s['macro_f1'])} | "
            + " | ".join(_fmt(s["per_class"].get(c, {}).get("f1")) for c in SENTIMENT_LABELS)
            + " |"
        )
    lines += ["", "## Per class (ensemble)", "", "| class | precision | recall | F1 | support |"]
    lines.append("|---|---|---|---|---|")
    for label, s in scores.get("ensemble", {}).get("per_class", {}).items():
        lines.append(
            f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        )
    total = sum(routing.values()) or 1
    lines += [
        "",
        "## Ensemble routing",
        "",
        "Posts where SetFit is unsure or VADER and SetFit disagree on the sign go to SetFit alone "
        "(the lexicon is what slang and sarcasm fool); the others get the weighted blend.",
        "",
        *(f"- {k}: {v} ({v / total:.0%})" for k, v in routing.items()),
        "",
        "## Against the champion",
        "",
    ]
    if champion is None:
        lines.append("No champion yet: this is the first sentiment model.")
    else:
        lines.append(
            f"Champion {champion['version']} on the same test split: ensemble macro-F1 "
            f"{_fmt(champion['scores']['ensemble']['macro_f1'])}."
        )
        lines += ["", "| metric | challenger - champion |", "|---|---|"]
        lines += [f"| {k} | {'n/a' if v is None else f'{v:+.4f}'} |" for k, v in deltas.items()]
    lines += [
        "",
        "## Details",
        "",
        "```json",
        json.dumps(extra, indent=1, default=str),
        "```",
        "",
        " ".join(f"![{k}]({p.name})" for k, p in pngs.items()),
        "",
    ]
    markdown = "\n".join(lines)
    atomic_write_text(folder / f"{version}.md", markdown)
    return markdown, pngs


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def evaluate_predictors(
    true: Sequence[str], compound: np.ndarray, model_probs: np.ndarray, ensemble_cfg
) -> tuple[dict[str, dict[str, Any]], dict[str, int], Any]:
    """VADER alone, the few-shot model alone and the ensemble on the same gold labels:
    (scores by predictor, the ensemble's routing counts, the ensemble result)."""
    from trademl.sentiment.ensemble import ensemble
    from trademl.sentiment.vader import vader_labels

    mixed = ensemble(compound, model_probs, ensemble_cfg)
    model_labels = [SENTIMENT_LABELS[i] for i in np.asarray(model_probs).argmax(axis=1)]
    scores = side_by_side(
        true,
        {
            "vader": vader_labels(compound, ensemble_cfg.neutral_band),
            "setfit": model_labels,
            "ensemble": mixed.labels,
        },
    )
    return scores, mixed.routing_counts(), mixed
