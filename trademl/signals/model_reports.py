"""Evaluation reports for the signal models: metrics, PNG charts, Markdown, deltas vs the champion."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trademl.charts import bars_png, confusion_matrix_png, curves_png
from trademl.errors import InputError
from trademl.labels import NON_SIGNAL, SIGNAL_CLASSES
from trademl.lake import Lake, atomic_write_text, read_csv
from trademl.signals.merge import merge_labels


def training_table(lake: Lake) -> tuple[pd.DataFrame, dict[str, Any]]:
    """classification_data.csv relabelled by the LLM and human labels (human > LLM > rules)."""
    from trademl.llm.store import read_llm_labels

    dataset = read_csv(lake.export("classification_data.csv"), keep_default_na=False)
    human_path = lake.root / "labels" / "human_labels.jsonl"
    human = (
        [json.loads(line) for line in human_path.read_text().splitlines()]
        if human_path.exists()
        else []
    )
    return merge_labels(dataset, human, read_llm_labels(lake))


# --- the desk's gold set ------------------------------------------------------------------------

#: The metric each model is scored and gated on per gold file.
GOLD_KEYS = {"signal_classifier": "macro_f1", "ner_extractor": "field_f1"}


@dataclass(frozen=True)
class GoldSet:
    """One gold-format JSONL file (:func:`trademl.signals.evaluation.load_gold`), loaded."""

    name: str  #: unique among the configured files: the file name, numbered if two share it
    path: str
    rows: list[dict[str, Any]]


def split_gold_paths(value: str | Iterable[str] | None) -> list[str]:
    """Gold file paths from a setting: one string separated by ``os.pathsep`` or commas (the
    ``TRADEML_GOLD`` form), or a list of such strings; blanks and repeats dropped, order kept."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for part in re.split(rf"[,{re.escape(os.pathsep)}]", str(item)):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def load_gold_sets(paths: Iterable[str]) -> list[GoldSet]:
    """Every configured gold file, loaded and checked.

    Raises:
        InputError: naming the file (and line) that is missing, unreadable, malformed
            (see :func:`~trademl.signals.evaluation.load_gold`), or has no labelled row.
    """
    from trademl.signals.evaluation import load_gold

    sets: list[GoldSet] = []
    names: set[str] = set()
    for path in paths:
        rows = load_gold(path)
        if not any(r.get("label") in SIGNAL_CLASSES for r in rows):
            raise InputError(
                str(path), "no labelled gold row (every label is null): nothing to score"
            )
        name, n = os.path.basename(str(path)) or str(path), 2
        while name in names:
            name, n = f"{os.path.basename(str(path))}#{n}", n + 1
        names.add(name)
        sets.append(GoldSet(name, str(path), rows))
    return sets


def classifier_gold_scores(classifier, gold: GoldSet) -> dict[str, Any]:
    """The classifier alone on one gold file: macro-F1 over the classes present in the file
    (a class only predicted lowers the F1 of the present ones, it is not averaged in),
    accuracy, per-class scores; rows with a null label are not scored."""
    from trademl.signals.evaluation import score_signals

    rows = [r for r in gold.rows if r.get("label") in SIGNAL_CLASSES]
    proba = np.asarray(classifier.predict_proba([r["text"] for r in rows]))
    predictions = [{"label": SIGNAL_CLASSES[i]} for i in proba.argmax(axis=1)]
    scores = score_signals(rows, predictions)["classification"]
    present = {c: m for c, m in scores["per_class"].items() if m["support"] > 0}
    return {
        "n": scores["n"],
        "macro_f1": sum(m["f1"] for m in present.values()) / len(present),
        "accuracy": scores["accuracy"],
        "per_class": {c: round(m["f1"], 4) for c, m in present.items()},
    }


def extractor_gold_scores(
    extract: Callable[[Sequence[str]], list[dict[str, Any]]], gold: GoldSet
) -> dict[str, Any]:
    """The extractor's fields on one gold file's signal rows (gold label a signal class), scored
    as ``eval-signals`` scores extraction: ``field_f1`` is the micro-F1 over pair, side, entry,
    targets, stop_loss and leverage (``None`` when the file has no signal row). ``side`` is the
    direction: the stated one, else the one the levels imply
    (:func:`trademl.signals.levels.side_from_levels`), as the class definition says."""
    from trademl.signals.evaluation import score_signals
    from trademl.signals.levels import side_from_levels

    rows = [r for r in gold.rows if r.get("label") in SIGNAL_CLASSES and r["label"] != NON_SIGNAL]
    if not rows:
        return {"n": 0, "field_f1": None, "fields": {}}
    predictions = []
    for fields in extract([r["text"] for r in rows]):
        fields = dict(fields)
        if not fields.get("side"):
            fields["side"] = side_from_levels(
                fields.get("entry"), fields.get("targets"), fields.get("stop_loss")
            )
        predictions.append(fields)
    scores = score_signals(rows, predictions)["extraction"]
    return {
        "n": scores["n"],
        "field_f1": scores["micro_f1"],
        "fields": {f: round(m["f1"], 4) for f, m in scores["fields"].items()},
    }


def gold_results(
    gold: Sequence[GoldSet],
    key: str,
    score: Callable[[Any, GoldSet], dict[str, Any]],
    challenger: Any,
    champion: Any | None,
) -> dict[str, dict[str, Any]]:
    """``{file name: {path, key, challenger, champion, delta}}``: both models on every gold file
    (``champion`` None: none to compare with; ``delta`` = challenger − champion on ``key``)."""
    out = {}
    for g in gold:
        mine = score(challenger, g)
        theirs = score(champion, g) if champion is not None else None
        delta = None
        if theirs is not None and mine[key] is not None and theirs[key] is not None:
            delta = mine[key] - theirs[key]
        out[g.name] = {
            "path": g.path,
            "key": key,
            "challenger": mine,
            "champion": theirs,
            "delta": delta,
        }
    return out


def gold_regressions(gold: dict[str, dict[str, Any]], margin: float) -> list[str]:
    """One sentence per gold file on which the challenger is worse than the champion by more
    than ``margin`` (absolute), naming the file and by how much; empty when none is."""
    out = []
    for r in gold.values():
        if r["delta"] is not None and -r["delta"] > margin:
            key = r["key"]
            out.append(
                f"{r['path']}: {key} {r['challenger'][key]:.4f} against the champion's "
                f"{r['champion'][key]:.4f} ({r['delta']:+.4f}, beyond the margin {margin:g})"
            )
    return out


def gold_metadata(gold: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Flat metadata per gold file: ``gold_<file>_<key>`` (challenger), ``..._champion``,
    ``..._delta`` (floats, for the UI's plots), and ``gold`` (the whole table, JSON)."""
    out: dict[str, Any] = {}
    for name, r in gold.items():
        stem = re.sub(r"[^a-z0-9]+", "_", name.lower().removesuffix(".jsonl")).strip("_")
        key = r["key"]
        prefix = f"gold_{stem}_{key}"
        if r["challenger"][key] is not None:
            out[prefix] = round(r["challenger"][key], 4)
        if r["champion"] is not None and r["champion"][key] is not None:
            out[f"{prefix}_champion"] = round(r["champion"][key], 4)
        if r["delta"] is not None:
            out[f"{prefix}_delta"] = round(r["delta"], 4)
    return out


def _gold_section(gold: dict[str, dict[str, Any]] | None, title: str) -> list[str]:
    if not gold:
        return []
    lines = [
        "",
        "## The desk's gold set",
        "",
        f"{title} scored on each `TRADEML_GOLD` file, challenger and champion alike; the "
        "promotion check blocks a challenger worse than the champion on any of them.",
        "",
        "| file | rows | challenger | champion | challenger − champion |",
        "|---|---|---|---|---|",
    ]
    for name, r in gold.items():
        key = r["key"]
        mine, theirs = r["challenger"], r["champion"]
        lines.append(
            f"| {name} | {mine['n']} | {_fmt(mine[key])} | "
            f"{'n/a' if theirs is None else _fmt(theirs[key])} | "
            f"{'n/a' if r['delta'] is None else format(r['delta'], '+.4f')} |"
        )
    detail = "per_class" if next(iter(gold.values()))["key"] == "macro_f1" else "fields"
    lines += ["", f"F1 by {'class' if detail == 'per_class' else 'field'}:", ""]
    for name, r in gold.items():
        if not r["challenger"][detail]:
            lines.append(f"- {name}: no signal rows, not scored")
            continue
        for who in ("challenger", "champion"):
            if r[who] is not None:
                parts = ", ".join(f"{k} {v:.3f}" for k, v in r[who][detail].items())
                lines.append(f"- {name}, {who}: {parts}")
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


# --- test-split metrics and reports -------------------------------------------------------------


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
    gold: dict[str, dict[str, Any]] | None = None,
) -> tuple[str, dict[str, Path]]:
    """Write ``reports/signal_classifier/<version>.md`` and its PNGs; return (markdown, png paths).

    ``gold``: :func:`gold_results` on the configured gold files (a section per report)."""
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
    lines += _gold_section(gold, "Macro-F1 (over the classes present in the file)")
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
    gold: dict[str, dict[str, Any]] | None = None,
) -> tuple[str, dict[str, Path]]:
    """Write ``reports/ner_extractor/<version>.md`` and a per-entity F1 chart (``gold``: as in
    :func:`classifier_report`)."""
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
    lines += _gold_section(gold, "Field F1 (micro over the six fields, on the signal rows)")
    lines += ["", f"![entity F1]({pngs['entity_f1'].name})", ""]
    markdown = "\n".join(lines)
    atomic_write_text(folder / f"{version}.md", markdown)
    return markdown, pngs
