"""Rows of ner_data.jsonl for training, with chatter subsampled so signals dominate the budget."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from trademl.lake import lake_path


def load_ner_rows(
    path: str | Path, *, max_train_rows: int | None = None, seed: int = 13
) -> list[dict[str, Any]]:
    """All rows of ``path``; with ``max_train_rows``, the train split keeps every row that has an
    entity and fills the rest of the budget with entity-free rows (sampled, seeded)."""
    rows = []
    with lake_path(path, "NER rows file").open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from None
    if max_train_rows is None:
        return rows
    train = [r for r in rows if r.get("split") == "train"]
    rest = [r for r in rows if r.get("split") != "train"]
    with_entities = [r for r in train if r.get("entities")]
    without = [r for r in train if not r.get("entities")]
    keep = with_entities[:max_train_rows]
    room = max(0, max_train_rows - len(keep))
    keep += random.Random(seed).sample(without, min(room, len(without)))
    return keep + rest
