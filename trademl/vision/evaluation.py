"""Scoring the meme adapter: the caption-only baseline it must beat, the adapter alone, the
text x image fusion, sarcasm precision/recall, and the markdown report with its confusion PNGs.

The caption-only baseline is a TF-IDF + logistic-regression classifier trained on the same
train split's captions and labels as the adapter (scikit-learn, the field's standard bag-of-words
baseline): it answers "how far do the words alone get on these posts", which is the figure the
adapter's held-out accuracy must clear for the image to be worth reading. The deployed text
sentiment model on the captions (trained on every post, not only imaged ones) is scored too, in
the report, as "text model".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trademl.sentiment.evaluation import score_labels
from trademl.sentiment.labels import SENTIMENT_LABELS

#: What the blocking not-worse check compares (challenger - champion on the same test split).
PROMOTION_KEYS = ("adapter.macro_f1", "fusion.macro_f1")
#: The predictors of the report, in the order they are shown.
PREDICTORS = ("majority", "caption_only", "text_model", "adapter", "fusion")


def caption_only_baseline(
    train_captions: Sequence[str], train_labels: Sequence[str], test_captions: Sequence[str]
) -> list[str]:
    """Labels for ``test_captions`` from TF-IDF (word 1-2 grams) + logistic regression fitted on
    the train captions; a train split with one class predicts that class."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train_labels = list(train_labels)
    if not test_captions:
        return []
    if not train_labels:
        raise ValueError("caption_only_baseline: no training captions")
    if len(set(train_labels)) == 1:
        return [train_labels[0]] * len(test_captions)
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x = vec.fit_transform([str(c) for c in train_captions])
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, train_labels)
    return [str(v) for v in clf.predict(vec.transform([str(c) for c in test_captions]))]


def majority_baseline(train_labels: Sequence[str], n: int) -> list[str]:
    """The train split's most common label, ``n`` times (ties: :data:`SENTIMENT_LABELS` order)."""
    counts = {label: list(train_labels).count(label) for label in SENTIMENT_LABELS}
    best = max(SENTIMENT_LABELS, key=lambda label: counts[label])
    return [best] * n


def sarcasm_scores(
    truth: Sequence[bool | None], predicted: Sequence[bool], name: str = ""
) -> dict[str, Any]:
    """Precision / recall / F1 of sarcasm flags over the posts whose truth is known (None:
    nobody said), with the counts behind them."""
    pairs = [(bool(t), bool(p)) for t, p in zip(truth, predicted, strict=True) if t is not None]
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )

    def r(v):
        return None if v is None else round(float(v), 4)

    return {
        "name": name,
        "n_known": len(pairs),
        "sarcastic": tp + fn,
        "flagged": tp + fp,
        "precision": r(precision),
        "recall": r(recall),
        "f1": r(f1),
    }


def score_predictors(
    true: Sequence[str], predictions: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, Any]]:
    """:func:`trademl.sentiment.evaluation.score_labels` per predictor, in :data:`PREDICTORS`
    order where the names are known."""
    order = [p for p in PREDICTORS if p in predictions] + [
        p for p in predictions if p not in PREDICTORS
    ]
    return {name: score_labels(true, predictions[name]) for name in order}


def meme_report(
    folder: Path,
    version: str,
    scores: dict[str, dict[str, Any]],
    sarcasm: dict[str, dict[str, Any]],
    champion: dict[str, Any] | None,
    deltas: dict[str, float | None],
    extra: dict[str, Any],
) -> tuple[str, dict[str, Path]]:
    """Write ``<folder>/<version>.md`` and a confusion PNG for the adapter and the fusion;
    returns (markdown, pngs)."""
    from trademl.charts import confusion_matrix_png
    from trademl.lake import atomic_write_text

    pngs = {
        f"{name}_confusion": confusion_matrix_png(
            scores[name]["confusion"],
            list(SENTIMENT_LABELS),
            folder / f"{version}-{name}-confusion.png",
            f"meme {name} {version}: confusion (test)",
        )
        for name in ("adapter", "fusion")
        if name in scores and scores[name]["n"]
    }
    n = next(iter(scores.values()))["n"] if scores else 0
    lines = [
        f"# llava_meme_adapter {version}",
        "",
        f"Test split: {n} imaged posts (the newest labelled ones; none seen in training). "
        f"Base: {extra.get('base', '?')}.",
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
    lines += [
        "",
        "majority: the train split's most common label; caption_only: TF-IDF + logistic "
        "regression on the train captions; text_model: the deployed sentiment model on the "
        "caption; adapter: the LLaVA adapter on image + caption; fusion: text, image, context "
        "and caption scores blended, the words read as their opposite where they contradict "
        "the picture (sarcasm). Sarcasm: adapter is its own yes/no answer; fusion is "
        "meme_sentiment's flag (the text model's or the literal caption reading on the other "
        "side of the image, by more than the disagreement threshold).",
        "",
        "## Per class (adapter)",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, s in scores.get("adapter", {}).get("per_class", {}).items():
        lines.append(
            f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        )
    lines += [
        "",
        "## Sarcasm",
        "",
        "| detector | posts with a known flag | sarcastic | flagged | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in sarcasm.items():
        lines.append(
            f"| {name} | {s['n_known']} | {s['sarcastic']} | {s['flagged']} | "
            f"{_fmt(s['precision'])} | {_fmt(s['recall'])} | {_fmt(s['f1'])} |"
        )
    lines += ["", "## Against the champion", ""]
    if champion is None:
        lines.append("No champion yet: this is the first meme adapter.")
    else:
        lines.append(
            f"Champion {champion['version']} on the same test split: adapter macro-F1 "
            f"{_fmt(champion['scores']['adapter']['macro_f1'])}, fusion macro-F1 "
            f"{_fmt(champion['scores']['fusion']['macro_f1'])}."
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


def labels_of(probabilities: Sequence[Mapping[str, float]]) -> list[str]:
    """The most likely label of each ``{label: p}``."""
    return [max(SENTIMENT_LABELS, key=lambda c: p[c]) for p in probabilities]


def _fmt(value: float | None) -> str:
    return (
        "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.4f}"
    )
