"""Evaluation reports for the signal models: metrics, PNG charts, Markdown, deltas vs the champion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trademl.charts import bars_png, confusion_matrix_png, curves_png
from trademl.labels import SIGNAL_CLASSES
from trademl.lake import Lake, atomic_write_text
from trademl.signals.merge import merge_labels


def training_table(lake: Lake) -> tuple[pd.DataFrame, dict[str, Any]]:
    """classification_data.csv relabelled by the LLM and human labels (human > LLM > rules)."""
    from trademl.llm.store import read_llm_labels

    dataset = pd.read_csv(lake.export("classification_data.csv"), keep_default_na=False)
    human_path = lake.root / "labels" / "human_labels.jsonl"
    human = (
        [json.loads(line) for line in human_path.read_text().splitlines()]
        if human_path.exists()
        else []
    )
    return merge_labels(dataset, human, read_llm_labels(lake))


def evaluate_classifier(classifier, test: pd.DataFrame) -> dict[str, Any]:
    """Metrics of ``classifier`` on ``test`` (text,label), with per-class precision-recall curves."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    from trademl.models.baseline import classification_metrics

    texts, gold = test["text"].tolist(), test["label"].tolist()
    proba = np.asarray(classifier.predict_proba(texts))
    pred = [SIGNAL_CLASSES[i] for i in proba.argmax(axis=1)]
    metrics = classification_metrics(gold, pred)
    curves, ap = {}, {}
    for i, label in enumerate(SIGNAL_CLASSES):
        y = np.array([g == label for g in gold])
        if y.any():
            precision, recall, _ = precision_recall_curve(y, proba[:, i])
            curves[label] = (recall.tolist(), precision.tolist())
            ap[label] = float(average_precision_score(y, proba[:, i]))
    metrics["average_precision"] = ap
    metrics["_curves"] = curves
    return metrics


def _delta_table(deltas: dict[str, float | None]) -> str:
    rows = [f"| {k} | {'n/a' if v is None else f'{v:+.4f}'} |" for k, v in deltas.items()]
    return "| metric | challenger − champion |\n|---|---|\n" + "\n".join(rows)


def _champion_section(champion, deltas, describe) -> list[str]:
    """The report's "Against the deployed champion" lines; ``describe`` words its metrics."""
    lines = ["", "## Against the deployed champion", ""]
    if champion is None:
        return [*lines, "No champion deployed yet: this model is the first."]
    return [
        *lines,
        f"Champion {champion['version']} {describe(champion['metrics'])}",
        "",
        _delta_table(deltas),
    ]


def classifier_report(
    lake: Lake,
    version: str,
    metrics: dict[str, Any],
    champion: dict[str, Any] | None,
    deltas: dict[str, float | None],
    extra: dict[str, Any],
) -> tuple[str, dict[str, Path]]:
    """Write ``reports/signal_classifier/<version>.md`` and its PNGs; return (markdown, png paths)."""
    folder = lake.reports("signal_classifier")
    pngs = {
        "confusion": confusion_matrix_png(
            metrics["confusion_matrix"],
            metrics["confusion_labels"],
            folder / f"{version}-confusion.png",
            f"signal_classifier {version}: confusion (test)",
        ),
        "pr_curves": curves_png(
            metrics.pop("_curves"),
            folder / f"{version}-pr.png",
            "precision-recall per class (test)",
        ),
    }
    lines = [
        f"# signal_classifier {version}",
        "",
        f"Test split: {metrics['n']} messages. Accuracy **{metrics['accuracy']:.4f}**, macro-F1 "
        f"**{metrics['macro_f1']:.4f}** (majority-class accuracy {metrics['majority_accuracy']:.4f}).",
        "",
        "| class | precision | recall | F1 | support | AP |",
        "|---|---|---|---|---|---|",
    ]
    for label, s in metrics["per_class"].items():
        ap = metrics["average_precision"].get(label)
        lines.append(
            f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} | "
            f"{'' if ap is None else f'{ap:.3f}'} |"
        )
    lines += _champion_section(
        champion,
        deltas,
        lambda m: f"scored on the same test split: accuracy {m['accuracy']:.4f}, "
        f"macro-F1 {m['macro_f1']:.4f}.",
    )
    lines += [
        "",
        "## Details",
        "",
        "```json",
        json.dumps(extra, indent=1, default=str),
        "```",
        "",
        f"![confusion]({pngs['confusion'].name}) ![pr]({pngs['pr_curves'].name})",
        "",
    ]
    markdown = "\n".join(lines)
    atomic_write_text(folder / f"{version}.md", markdown)
    return markdown, pngs


def ner_report(
    lake: Lake,
    version: str,
    metrics: dict[str, Any],
    champion: dict[str, Any] | None,
    deltas: dict[str, float | None],
) -> tuple[str, dict[str, Path]]:
    """Write ``reports/ner_extractor/<version>.md`` and a per-entity F1 chart."""
    folder = lake.reports("ner_extractor")
    f1 = {label: s.get("f1-score", 0.0) for label, s in metrics["entity"].items()}
    pngs = {
        "entity_f1": bars_png(
            f1, folder / f"{version}-entity-f1.png", f"ner_extractor {version}: entity F1 (test)"
        )
    }
    lines = [
        f"# ner_extractor {version}",
        "",
        f"Test rows: {metrics['test_rows']}. Entity micro-F1 (seqeval) **{metrics['entity_f1']:.4f}**.",
        "",
        "| entity | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, s in metrics["entity"].items():
        lines.append(
            f"| {label} | {s.get('precision', 0):.3f} | {s.get('recall', 0):.3f} | "
            f"{s.get('f1-score', 0):.3f} | {int(s.get('support', 0))} |"
        )
    lines += ["", "Field accuracy after post-processing:", "", "| field | accuracy |", "|---|---|"]
    for field, value in metrics.get("fields", {}).items():
        lines.append(
            f"| {field} | {value:.3f} |" if isinstance(value, float) else f"| {field} | {value} |"
        )
    lines += _champion_section(
        champion, deltas, lambda m: f"on the same test rows: entity micro-F1 {m['entity_f1']:.4f}."
    )
    lines += ["", f"![entity F1]({pngs['entity_f1'].name})", ""]
    markdown = "\n".join(lines)
    atomic_write_text(folder / f"{version}.md", markdown)
    return markdown, pngs
