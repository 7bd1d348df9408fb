"""Scores of a signal classifier + extractor against gold-format JSONL (see ARCHITECTURE.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from trademl.labels import SIGNAL_CLASSES, SIGNAL_FIELDS, SIGNAL_LONG, SIGNAL_NONE, SIGNAL_SHORT
from trademl.signals.normalize import normalize_pair

__all__ = ["format_report", "load_gold", "score_signals"]

_SIGNAL_LABELS = frozenset((SIGNAL_LONG, SIGNAL_SHORT, SIGNAL_NONE))
_LIST_FIELDS = frozenset(("entry", "targets"))


def load_gold(path: str | Path) -> list[dict]:
    """Gold rows from a JSON Lines file; blank lines are skipped.

    Raises:
        ValueError: naming the file and line of a row that is not a JSON object, has no string
            `text`, or has a `label` outside SIGNAL_CLASSES (null is allowed: skip for scoring).
    """
    rows: list[dict] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{where}: not valid JSON ({exc.msg}); fix or remove the line"
                ) from exc
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
            if not isinstance(row.get("text"), str):
                raise ValueError(f'{where}: missing string field "text"; every gold row needs one')
            label = row.get("label")
            if label is not None and label not in SIGNAL_CLASSES:
                raise ValueError(
                    f"{where}: unknown label {label!r}; expected one of {', '.join(SIGNAL_CLASSES)}"
                    " or null"
                )
            rows.append(row)
    return rows


def score_signals(gold: list[dict], predictions: list[dict]) -> dict:
    """Classification and field-extraction metrics of predictions[i] against gold[i].

    Classification covers rows whose gold label is not null. Extraction covers rows whose gold
    label is a signal class; a gold list field that is null (not annotated) is not scored.
    """
    if len(gold) != len(predictions):
        raise ValueError(
            f"score_signals: {len(gold)} gold rows but {len(predictions)} predictions; "
            "predictions[i] must be the prediction for gold[i]"
        )
    return {
        "n": len(gold),
        "classification": _classification(gold, predictions),
        "extraction": _extraction(gold, predictions),
    }


def _classification(gold: list[dict], predictions: list[dict]) -> dict:
    pairs = [
        (g["label"], p.get("label"))
        for g, p in zip(gold, predictions, strict=False)
        if g.get("label")
    ]
    classes = sorted({c for pair in pairs for c in pair if c is not None}, key=_class_order)
    confusion: dict[str, dict[str, int]] = {}
    for g, p in pairs:
        row = confusion.setdefault(g, {})
        row[str(p)] = row.get(str(p), 0) + 1
    per_class = {}
    for c in classes:
        tp = sum(1 for g, p in pairs if g == c and p == c)
        n_pred = sum(1 for _, p in pairs if p == c)
        support = sum(1 for g, _ in pairs if g == c)
        precision, recall, f1 = _prf(tp, n_pred - tp, support - tp)
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    correct = sum(1 for g, p in pairs if g == p)
    return {
        "n": len(pairs),
        "accuracy": correct / len(pairs) if pairs else 0.0,
        "macro_f1": sum(m["f1"] for m in per_class.values()) / len(per_class) if per_class else 0.0,
        "per_class": per_class,
        "confusion": confusion,
    }


def _extraction(gold: list[dict], predictions: list[dict]) -> dict:
    counts = {f: [0, 0, 0] for f in SIGNAL_FIELDS}  # tp, fp, fn
    n = 0
    for g, p in zip(gold, predictions, strict=False):
        if g.get("label") not in _SIGNAL_LABELS:
            continue
        n += 1
        for field in SIGNAL_FIELDS:
            if field in _LIST_FIELDS:
                if g.get(field) is None:
                    continue
                tp, fp, fn = _match_numbers(g[field], p.get(field) or [])
            else:
                tp, fp, fn = _match_scalar(field, g.get(field), p.get(field))
            c = counts[field]
            c[0] += tp
            c[1] += fp
            c[2] += fn
    fields = {}
    for field, (tp, fp, fn) in counts.items():
        precision, recall, f1 = _prf(tp, fp, fn)
        fields[field] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    precision, recall, f1 = _prf(tp, fp, fn)
    return {
        "n": n,
        "micro_precision": precision,
        "micro_recall": recall,
        "micro_f1": f1,
        "fields": fields,
    }


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-3, abs_tol=1e-9)


def _match_scalar(field: str, gold_value, pred_value) -> tuple[int, int, int]:
    """(tp, fp, fn) for one scalar field: pair and side exact, numbers within tolerance."""
    if field == "pair":
        gold_value, pred_value = normalize_pair(gold_value), normalize_pair(pred_value)
    if gold_value is None:
        return (0, 0, 0) if pred_value is None else (0, 1, 0)
    if pred_value is None:
        return 0, 0, 1
    if field in ("stop_loss", "leverage"):
        equal = _close(gold_value, pred_value)
    else:
        equal = str(gold_value).upper() == str(pred_value).upper()
    return (1, 0, 0) if equal else (0, 1, 1)


def _match_numbers(gold_values: Iterable, pred_values: Iterable) -> tuple[int, int, int]:
    """(tp, fp, fn) for two lists of numbers compared as sets; each gold number matches once."""
    unmatched = [float(v) for v in gold_values]
    tp = fp = 0
    for value in pred_values:
        for i, candidate in enumerate(unmatched):
            if _close(candidate, value):
                del unmatched[i]
                tp += 1
                break
        else:
            fp += 1
    return tp, fp, len(unmatched)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _class_order(label: str) -> tuple[int, str]:
    return (SIGNAL_CLASSES.index(label) if label in SIGNAL_CLASSES else len(SIGNAL_CLASSES), label)


def format_report(metrics: dict) -> str:
    """A short plain-text table of what score_signals returned."""
    cls, ext = metrics["classification"], metrics["extraction"]
    lines = [
        f"rows: {metrics['n']}  classified: {cls['n']}  accuracy: {cls['accuracy']:.3f}  "
        f"macro-F1: {cls['macro_f1']:.3f}",
        f"{'class':<14}{'prec':>7}{'rec':>7}{'f1':>7}{'support':>9}",
    ]
    for name, m in cls["per_class"].items():
        lines.append(
            f"{name:<14}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{m['support']:>9d}"
        )
    lines += [
        "",
        f"extraction rows: {ext['n']}  micro P/R/F1: {ext['micro_precision']:.3f} / "
        f"{ext['micro_recall']:.3f} / {ext['micro_f1']:.3f}",
        f"{'field':<14}{'prec':>7}{'rec':>7}{'f1':>7}{'tp':>6}{'fp':>6}{'fn':>6}",
    ]
    for name, m in ext["fields"].items():
        lines.append(
            f"{name:<14}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}"
            f"{m['tp']:>6d}{m['fp']:>6d}{m['fn']:>6d}"
        )
    return "\n".join(lines)
