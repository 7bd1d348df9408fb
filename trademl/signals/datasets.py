"""Training files from labelled messages: ``classification_data.csv`` and ``ner_data.jsonl``.

The split is by time: the oldest messages train, the newest test, so a model is always scored
on messages from after the ones it learnt from. A message text (whitespace- and case-normalised)
lands in one split only: the split of its first occurrence; later repeats are dropped and counted.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc

from trademl.errors import InputError
from trademl.lake import atomic_path, lake_path, parquet_file, read_table
from trademl.signals.tokenize import bio_tags, word_tokens

SPLITS = ("train", "validation", "test")


@dataclass
class ExportStats:
    rows_in: int = 0
    duplicates_dropped: int = 0
    per_split: Counter = field(default_factory=Counter)
    per_label: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in SPLITS})
    entities: Counter = field(default_factory=Counter)
    split_start: dict[str, str] = field(default_factory=dict)  # first message date of each split


def text_key(text: str) -> bytes:
    """Identity of a message text for de-duplication across splits."""
    return hashlib.blake2b(" ".join(text.split()).casefold().encode(), digest_size=8).digest()


def export_datasets(
    label_files: Sequence[str | Path],
    classification_csv: str | Path,
    ner_jsonl: str | Path,
    *,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    workers: int | None = None,
    chunk_rows: int = 20_000,
) -> ExportStats:
    """Stream ``rule_labels`` partition files (oldest first) into the two training files.

    One partition is in memory at a time (sorted by date), converted to Python objects
    ``chunk_rows`` at a time; the NER lines of large exports are rendered in ``workers`` processes.
    """
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if (
        not 0 <= validation_fraction < 1
        or not 0 <= test_fraction < 1
        or validation_fraction + test_fraction >= 1
    ):
        raise ValueError(
            f"split fractions validation={validation_fraction}, test={test_fraction} must be in [0, 1) and sum below 1"
        )
    files = [lake_path(f, "rule_labels file") for f in label_files]
    total = 0
    for f in files:
        with parquet_file(f) as pf:
            total += pf.metadata.num_rows
    if total == 0:
        raise InputError(
            "rule_labels",
            f"no labelled messages in {len(files)} partition file(s)",
            "materialize raw_messages and rule_labels for some partitions first",
        )
    train_end = round(total * (1 - validation_fraction - test_fraction))
    val_end = round(total * (1 - test_fraction))
    stats = ExportStats()
    seen: set[bytes] = set()
    index = 0
    pool = (
        ProcessPoolExecutor(max_workers=workers) if workers > 1 and total > 4 * chunk_rows else None
    )
    pending = []  # NER lines rendered in worker processes, written in order
    try:
        with atomic_path(classification_csv) as csv_tmp, atomic_path(ner_jsonl) as ner_tmp:
            with (
                open(csv_tmp, "w", newline="", encoding="utf-8") as cfh,
                open(ner_tmp, "w", encoding="utf-8") as nfh,
            ):
                writer = csv.writer(cfh)
                writer.writerow(("text", "label", "split"))
                for path in files:
                    table = read_table(path, columns=["date", "text", "label", "entities"])
                    table = table.take(pc.sort_indices(table, sort_keys=[("date", "ascending")]))
                    for offset in range(0, table.num_rows, chunk_rows):
                        part = table.slice(offset, chunk_rows)
                        kept = []
                        dates = part.column("date")
                        for i, (text, label, ents) in enumerate(
                            zip(
                                part.column("text").to_pylist(),
                                part.column("label").to_pylist(),
                                part.column("entities").to_pylist(),
                                strict=True,
                            )
                        ):
                            split = (
                                "train"
                                if index < train_end
                                else "validation"
                                if index < val_end
                                else "test"
                            )
                            if split not in stats.split_start:
                                stats.split_start[split] = dates[i].as_py().isoformat()
                            index += 1
                            stats.rows_in += 1
                            key = text_key(text)
                            if key in seen:
                                stats.duplicates_dropped += 1
                                continue
                            seen.add(key)
                            stats.per_split[split] += 1
                            stats.per_label[split][label] += 1
                            for ent in ents:
                                stats.entities[ent["label"]] += 1
                            kept.append((text, label, ents, split))
                        writer.writerows((text, label, split) for text, label, _, split in kept)
                        if pool is None:
                            nfh.write(ner_lines(kept))
                        else:
                            pending.append(pool.submit(ner_lines, kept))
                            while len(pending) > 2 * workers:
                                nfh.write(pending.pop(0).result())
                while pending:
                    nfh.write(pending.pop(0).result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return stats


def ner_lines(rows: list[tuple[str, str, list[dict], str]]) -> str:
    """JSON lines of ``ner_data.jsonl`` for ``(text, label, entities, split)`` rows."""
    out = []
    dumps = json.dumps
    for text, label, ents, split in rows:
        spans = [(e["start"], e["end"], e["label"]) for e in ents]
        tokens = word_tokens(text)
        out.append(
            dumps(
                {
                    "text": text,
                    "entities": [{"start": s, "end": e, "label": lab} for s, e, lab in spans],
                    "tokens": [t for t, _, _ in tokens],
                    "tags": bio_tags(tokens, spans),
                    "label": label,
                    "split": split,
                },
                ensure_ascii=False,
            )
        )
    return "\n".join(out) + "\n" if out else ""
