"""Which messages a person should label next.

The models learn mostly from rule labels, so they can only beat the parser where a human (or an
LLM) corrects it. First come the LLM's signal labels that the evidence did not confirm (an LLM
that turns the parser's NON_SIGNAL into a trade without levels in price position, coherent and
near the market: either a layout the parser misses or a model argued into it; a person decides).
Then the messages where the parser and the deployed classifier disagree (one of them is wrong,
and it is often a layout the parser does not know), then those the classifier is least sure of.
Already-labelled texts and repeats are skipped.

The queue is JSON Lines with a ``text`` field, which Label Studio and Argilla import as tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from trademl.lake import atomic_write_text, lake_path
from trademl.signals.datasets import text_key

__all__ = ["DISAGREE", "LLM_UNCONFIRMED", "UNCERTAIN", "rank_for_review", "write_review_queue"]

LLM_UNCONFIRMED = "llm_unconfirmed"
DISAGREE = "parser_and_model_disagree"
UNCERTAIN = "model_uncertain"


def rank_for_review(
    messages: Sequence[dict[str, Any]],
    rule_labels: Sequence[str],
    predictions: Sequence[tuple[str, float]],
    *,
    labelled_texts: Iterable[str] = (),
    limit: int = 200,
    uncertain_below: float = 0.6,
    llm_unconfirmed: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The messages to label next, most useful first.

    ``llm_unconfirmed`` (the LLM labeller's review items: ``text``, ``answer``, ``reason``,
    ``rule_label``, plus ``message_id``/``date``) come first, in the order given, with reason
    :data:`LLM_UNCONFIRMED`, the LLM's label as ``model_label`` and why it was held back as
    ``llm_reason``.

    ``messages[i]`` (a dict with ``text``, plus any of ``message_id``/``channel``/``date``) was
    labelled ``rule_labels[i]`` by the parser and ``predictions[i] = (label, confidence)`` by the
    classifier. Disagreements come first, the classifier's most confident ones first (a confident
    model against the parser points at a parser gap or a model error worth a label); then messages
    whose top probability is below ``uncertain_below``, least sure first.
    """
    if not len(messages) == len(rule_labels) == len(predictions):
        raise ValueError(
            f"rank_for_review: {len(messages)} messages, {len(rule_labels)} rule labels and "
            f"{len(predictions)} predictions; they must line up"
        )
    if limit < 0 or not 0.0 <= uncertain_below <= 1.0:
        raise ValueError(
            f"rank_for_review: limit must be >= 0 (got {limit}) and uncertain_below in [0, 1] "
            f"(got {uncertain_below})"
        )
    seen = {text_key(t) for t in labelled_texts}
    unconfirmed: list[dict[str, Any]] = []
    for item in llm_unconfirmed:
        text = item.get("text") or ""
        key = text_key(text)
        if key in seen or not text.strip():
            continue
        seen.add(key)
        answer = item.get("answer") or {}
        unconfirmed.append(
            {
                "text": text,
                **{k: item[k] for k in ("message_id", "channel", "date") if k in item},
                "rule_label": item.get("rule_label"),
                "model_label": answer.get("label"),
                "confidence": None,
                "reason": LLM_UNCONFIRMED,
                "llm_reason": item.get("reason"),
                "llm_answer": answer,
            }
        )
    disagree: list[dict[str, Any]] = []
    uncertain: list[dict[str, Any]] = []
    for msg, rule, (label, confidence) in zip(messages, rule_labels, predictions, strict=True):
        key = text_key(msg["text"])
        if key in seen or not msg["text"].strip():
            continue
        seen.add(key)
        item = {
            **msg,
            "rule_label": rule,
            "model_label": label,
            "confidence": round(float(confidence), 4),
        }
        if label != rule:
            disagree.append({**item, "reason": DISAGREE})
        elif confidence < uncertain_below:
            uncertain.append({**item, "reason": UNCERTAIN})
    disagree.sort(key=lambda r: -r["confidence"])
    uncertain.sort(key=lambda r: r["confidence"])
    return (unconfirmed + disagree + uncertain)[:limit]


def write_review_queue(items: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """The queue as JSON Lines (one task a line, ``text`` first), replaced atomically."""
    lines = (
        json.dumps(
            {"text": r["text"], **{k: v for k, v in r.items() if k != "text"}},
            ensure_ascii=False,
            default=str,
        )
        + "\n"
        for r in items
    )
    path = lake_path(path, "review queue")
    atomic_write_text(path, "".join(lines))
    return path
