"""Which messages go to the LLM, and where a labelling run's output lands in the lake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from trademl.lake import Lake, atomic_path, atomic_write_text
from trademl.llm.redact import redact_record


def newest_messages(lake: Lake, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` newest rule-labelled messages (one per distinct text), newest first."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for part in reversed(lake.partitions("raw", "rule_labels")):
        table = pq.read_table(
            lake.raw("rule_labels", part),
            columns=["source", "channel", "message_id", "date", "text"],
        )
        df = table.to_pandas().sort_values("date", ascending=False)
        for row in df.itertuples(index=False):
            key = " ".join(row.text.split()).casefold()
            if key in seen:
                continue
            seen.add(key)
            out.append(
                {"message_id": f"{row.source}:{row.channel}:{row.message_id}", "text": row.text}
            )
            if len(out) >= limit:
                return out
    return out


def write_label_run(run, messages: list[dict[str, Any]], lake: Lake) -> dict[str, Path]:
    """Labels to ``labels/llm_labels.parquet`` (with their text); failures and ungrounded answers
    to ``quarantine/llm_labels/*.jsonl``, each with its reason, redacted
    (:func:`trademl.llm.redact.redact`) before it is written."""
    text_of = {m["message_id"]: m["text"] for m in messages}
    labels = pd.DataFrame(
        [{**row, "text": text_of.get(row["message_id"], "")} for row in run.labels]
    )
    paths = {
        "labels": lake.root / "labels" / "llm_labels.parquet",
        "failures": lake.root / "quarantine" / "llm_labels" / "failures.jsonl",
        "ungrounded": lake.root / "quarantine" / "llm_labels" / "ungrounded.jsonl",
    }
    with atomic_path(paths["labels"]) as tmp:
        labels.to_parquet(tmp, index=False)
    for key in ("failures", "ungrounded"):
        rows = [
            redact_record({**r, "text": text_of.get(r["message_id"], "")})
            for r in getattr(run, key)
        ]
        atomic_write_text(
            paths[key], "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        )
    return paths


def read_llm_labels(lake: Lake) -> list[dict[str, Any]]:
    path = lake.root / "labels" / "llm_labels.parquet"
    if not path.exists():
        return []
    return pd.read_parquet(path).to_dict("records")
