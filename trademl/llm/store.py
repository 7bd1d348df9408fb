"""Which messages go to the LLM, and where a labelling run's output lands in the lake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from trademl.lake import Lake, atomic_path, atomic_write_text, read_parquet, read_table
from trademl.llm.redact import redact_record


def newest_messages(lake: Lake, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` newest rule-labelled messages (one per distinct text), newest first.

    Each is ``{message_id, text, date}``; ``date`` (ISO 8601, UTC) is the message time, which the
    labeler uses to look up the market price an entry must lie near."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for part in reversed(lake.partitions("raw", "rule_labels")):
        table = read_table(
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
                {
                    "message_id": f"{row.source}:{row.channel}:{row.message_id}",
                    "text": row.text,
                    "date": _iso(row.date),
                }
            )
            if len(out) >= limit:
                return out
    return out


def _iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).isoformat()


def write_label_run(run, messages: list[dict[str, Any]], lake: Lake) -> dict[str, Path]:
    """Labels to ``labels/llm_labels.parquet`` (with their text); failures and ungrounded answers
    to ``quarantine/llm_labels/*.jsonl``; signal answers without the evidence to be labels to
    ``labels/llm_review.jsonl`` (for a person: ``signal_review_queue`` puts them first). Every
    row of the JSONL files keeps its reason and is redacted
    (:func:`trademl.llm.redact.redact`) before it is written."""
    text_of = {m["message_id"]: m["text"] for m in messages}
    labels = pd.DataFrame(
        [{**row, "text": text_of.get(row["message_id"], "")} for row in run.labels]
    )
    paths = {
        "labels": lake.root / "labels" / "llm_labels.parquet",
        "failures": lake.root / "quarantine" / "llm_labels" / "failures.jsonl",
        "ungrounded": lake.root / "quarantine" / "llm_labels" / "ungrounded.jsonl",
        "review": llm_review_path(lake),
    }
    with atomic_path(paths["labels"]) as tmp:
        labels.to_parquet(tmp, index=False)
    for key in ("failures", "ungrounded", "review"):
        rows = [
            redact_record({**r, "text": text_of.get(r["message_id"], "")})
            for r in getattr(run, key)
        ]
        atomic_write_text(
            paths[key], "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        )
    return paths


def llm_review_path(lake: Lake) -> Path:
    return lake.root / "labels" / "llm_review.jsonl"


def read_llm_review(lake: Lake) -> list[dict[str, Any]]:
    """The last run's unconfirmed LLM signal labels (``labels/llm_review.jsonl``), in order."""
    path = llm_review_path(lake)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_llm_labels(lake: Lake) -> list[dict[str, Any]]:
    path = lake.root / "labels" / "llm_labels.parquet"
    if not path.exists():
        return []
    return read_parquet(path).to_dict("records")
