"""One training table from several label sources: human > LLM > rules where they disagree.

A row of the LLM label file counts as an LLM label only when the LLM gave it (``source`` "llm";
rows written before the column existed count as LLM too). ``llm_labels`` without an endpoint
writes the rule parser's labels there (``source`` "rules"): the dataset already holds the
parser's labels, so those rows change nothing and are counted as ``skipped``, never as "llm".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import pandas as pd

from trademl.labels import SIGNAL_CLASSES
from trademl.signals.datasets import text_key

PRECEDENCE = ("human", "llm", "rules")
#: The ``source`` an LLM label row carries when the model, not the rule parser, labelled it.
LLM_SOURCE = "llm"


def merge_labels(
    dataset: pd.DataFrame,
    human: Iterable[dict[str, Any]] = (),
    llm: Iterable[dict[str, Any]] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``dataset`` (text,label,split; rule labels) relabelled by LLM then human labels.

    Matching is by normalised text, the same identity the dataset export de-duplicates on, so an
    override never moves a text into a second split. Labelled texts the dataset lacks join the
    train split. Rows of ``llm`` whose ``source`` is not "llm" (the rule parser labelled them: an
    ``llm_labels`` run without an endpoint) are not LLM labels: they neither override nor add,
    and are counted in ``skipped`` by their source. Returns the table (with ``label_source``)
    and counts for the run's metadata (``overrides``, ``added``, ``agree``, ``skipped`` per
    source, ``label_sources``: rows of the table per label source).
    """
    df = dataset[["text", "label", "split"]].copy()
    df["label_source"] = "rules"
    index = {text_key(t): i for i, t in enumerate(df["text"])}
    stats: dict[str, Any] = {
        "overrides": Counter(),
        "added": Counter(),
        "agree": Counter(),
        "skipped": Counter(),
    }
    extra: list[dict[str, Any]] = []
    labels = df["label"].tolist()
    sources = df["label_source"].tolist()
    for source, rows in (("llm", llm), ("human", human)):
        for row in rows:
            label = row.get("label")
            if label not in SIGNAL_CLASSES or not row.get("text"):
                continue
            if source == "llm" and _labelled_by(row) != LLM_SOURCE:
                stats["skipped"][_labelled_by(row)] += 1
                continue
            key = text_key(row["text"])
            i = index.get(key)
            if i is None:
                index[key] = len(labels) + len(extra)
                extra.append(
                    {"text": row["text"], "label": label, "split": "train", "label_source": source}
                )
                stats["added"][source] += 1
                continue
            if i >= len(labels):  # added by a lower-precedence source in this call
                extra[i - len(labels)].update(label=label, label_source=source)
                continue
            if labels[i] == label:
                stats["agree"][source] += 1
            else:
                stats["overrides"][source] += 1
            labels[i], sources[i] = label, source
    df["label"], df["label_source"] = labels, sources
    if extra:
        df = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
    stats = {k: dict(v) for k, v in stats.items()}
    stats["label_sources"] = df["label_source"].value_counts().to_dict()
    return df, stats


def _labelled_by(row: dict[str, Any]) -> str:
    """Who labelled an LLM label row: its ``source`` ("llm", "rules"), "llm" when it has none."""
    source = row.get("source")
    if source is None or (isinstance(source, float) and source != source):  # None / NaN
        return LLM_SOURCE
    return str(source)
