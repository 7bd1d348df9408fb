"""Scores of a signal classifier + extractor against gold-format JSONL (see ARCHITECTURE.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from trademl.errors import InputError
from trademl.labels import SIGNAL_CLASSES, SIGNAL_FIELDS, SIGNAL_LONG, SIGNAL_NONE, SIGNAL_SHORT
from trademl.signals.normalize import normalize_pair

__all__ = [
    "format_report",
    "iter_jsonl",
    "load_gold",
    "open_jsonl",
    "score_signals",
    "text_problem",
]

_SIGNAL_LABELS = frozenset((SIGNAL_LONG, SIGNAL_SHORT, SIGNAL_NONE))
_LIST_FIELDS = frozenset(("entry", "targets"))


EMPTY_LINE = "empty line"
_UTF8_BOM = b"\xef\xbb\xbf"
_SIDES = ("LONG", "SHORT")


def open_jsonl(path: str | Path) -> BinaryIO:
    """``path`` opened for :func:`iter_jsonl`; InputError naming it when it is not a readable file."""
    try:
        if Path(path).is_dir():
            raise InputError(str(path), "is a directory, not a JSON Lines file")
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except PermissionError:
        raise InputError(str(path), "permission denied") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read ({exc.strerror or exc})") from None


def iter_jsonl(handle: BinaryIO) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Every line of a JSON Lines stream as ``(line_no, object, None)`` or ``(line_no, None,
    problem)``, one line at a time (1-based; a final line without a newline counts).

    Lines are split on ``\\n`` only (a ``\\r`` before it is dropped, a UTF-8 BOM before the first
    line too) and decoded one by one, so one line that is not UTF-8 spoils no other. A blank line's
    problem is :data:`EMPTY_LINE`.
    """
    for line_no, raw in enumerate(handle, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if line_no == 1 and raw.startswith(_UTF8_BOM):
            raw = raw[len(_UTF8_BOM) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield (
                line_no,
                None,
                f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
            )
            continue
        if not line.strip():
            yield line_no, None, EMPTY_LINE
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield line_no, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number, nesting 10,000 deep
            yield line_no, None, f"not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
            continue
        if not isinstance(row, dict):
            yield line_no, None, f"expected a JSON object, got {_json_type(row)}"
            continue
        yield line_no, row, None


def text_problem(row: dict[str, Any]) -> str | None:
    """What is wrong with the ``text`` of a JSON Lines row, or None: a string is all it needs."""
    if "text" not in row:
        return 'missing string field "text"'
    if not isinstance(row["text"], str):
        return f'field "text" must be a string, not {_json_type(row["text"])}'
    return None


def load_gold(path: str | Path) -> list[dict]:
    """Gold rows from a JSON Lines file; blank lines are skipped.

    Raises:
        InputError (a ValueError): naming the file and line of a row that is not UTF-8 or not a
            JSON object, has no string `text`, a `label` outside SIGNAL_CLASSES (null is allowed:
            skip for scoring), or a field of the wrong type (`pair` a string, `side` LONG/SHORT,
            `entry`/`targets` lists of numbers, `stop_loss`/`leverage` numbers; each may be null);
            or naming the file when it is not a readable file or holds no rows.
    """
    rows: list[dict] = []
    with open_jsonl(path) as handle:
        for line_no, row, problem in iter_jsonl(handle):
            if problem == EMPTY_LINE:
                continue
            problem = problem or text_problem(row) or _gold_problem(row)
            if problem:
                raise InputError(f"{path}:{line_no}", problem)
            rows.append(row)
    if not rows:
        raise InputError(str(path), "no gold rows (the file is empty or blank)")
    return rows


def _gold_problem(row: dict[str, Any]) -> str | None:
    label = row.get("label")
    if label is not None and label not in SIGNAL_CLASSES:
        return f"unknown label {label!r}; expected one of {', '.join(SIGNAL_CLASSES)} or null"
    pair = row.get("pair")
    if pair is not None and not isinstance(pair, str):
        return f'field "pair" must be a string or null, not {_json_type(pair)}'
    side = row.get("side")
    if side is not None and side not in _SIDES:
        return f'field "side" must be "LONG", "SHORT" or null, not {json.dumps(side)[:40]}'
    for field in ("entry", "targets"):
        value = row.get(field)
        if value is not None and not (
            isinstance(value, list) and all(_is_number(v) for v in value)
        ):
            return (
                f'field "{field}" must be a list of numbers or null, not {json.dumps(value)[:40]}'
            )
    for field in ("stop_loss", "leverage"):
        value = row.get(field)
        if value is not None and not _is_number(value):
            return f'field "{field}" must be a number or null, not {json.dumps(value)[:40]}'
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)


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
    gold_classes = sorted({g for g, _ in pairs}, key=_class_order)
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
        # Macro over the classes of the gold file: a file with no SIGNAL_NONE row is not scored
        # on it (a wrong SIGNAL_NONE answer still costs the recall of the row's true class).
        "macro_f1": sum(per_class[c]["f1"] for c in gold_classes) / len(gold_classes)
        if gold_classes
        else 0.0,
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
