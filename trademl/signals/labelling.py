"""Rule labels for a partition of messages: class, typed fields and entity spans per message."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trademl.lake import atomic_path, parquet_file
from trademl.signals.parser import parse_signal

SPAN_TYPE = pa.list_(
    pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
)

RULE_LABELS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("channel", pa.string()),  # the stable id (see trademl.ingest.messages.Message)
        ("channel_name", pa.string()),
        ("message_id", pa.string()),
        ("date", pa.timestamp("us", tz="UTC")),
        ("text", pa.string()),
        ("label", pa.string()),
        ("pair", pa.string()),
        ("side", pa.string()),
        ("entry", pa.list_(pa.float64())),
        ("targets", pa.list_(pa.float64())),
        ("stop_loss", pa.float64()),
        ("leverage", pa.float64()),
        ("entities", SPAN_TYPE),
    ]
)

_PARSED_COLUMNS = ("label", "pair", "side", "entry", "targets", "stop_loss", "leverage", "entities")


def parse_texts(texts: list[str]) -> dict[str, list]:
    """Parse ``texts`` with the rule parser into columns (label, fields, entities)."""
    cols: dict[str, list] = {c: [] for c in _PARSED_COLUMNS}
    label, pair, side = cols["label"], cols["pair"], cols["side"]
    entry, targets, sl, lev, ents = (
        cols["entry"],
        cols["targets"],
        cols["stop_loss"],
        cols["leverage"],
        cols["entities"],
    )
    for text in texts:
        p = parse_signal(text)
        label.append(p.label)
        pair.append(p.pair)
        side.append(p.side)
        entry.append(p.entry)
        targets.append(p.targets)
        sl.append(p.stop_loss)
        lev.append(p.leverage)
        ents.append([{"start": s.start, "end": s.end, "label": s.label} for s in p.spans])
    return cols


def _parse_chunk(texts: list[str]) -> dict[str, list]:
    return parse_texts(texts)


def label_messages(
    messages: pa.Table, *, workers: int = 1, chunk_size: int = 12_500
) -> tuple[pa.Table, Counter]:
    """``messages`` (raw_messages columns) with the rule parser's columns added, and class counts."""
    texts = messages.column("text").to_pylist()
    if workers > 1 and len(texts) > 2 * chunk_size:
        chunks = [texts[i : i + chunk_size] for i in range(0, len(texts), chunk_size)]
        parsed: dict[str, list] = {c: [] for c in _PARSED_COLUMNS}
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_parse_chunk, chunks):
                for c in _PARSED_COLUMNS:
                    parsed[c].extend(part[c])
    else:
        parsed = parse_texts(texts)
    base = {
        name: messages.column(name) for name in ("source", "channel", "message_id", "date", "text")
    }
    # Partitions ingested before channel_name existed: the channel was the name.
    base["channel_name"] = messages.column(
        "channel_name" if "channel_name" in messages.column_names else "channel"
    )
    arrays = [
        base[f.name] if f.name in base else pa.array(parsed[f.name], type=f.type)
        for f in RULE_LABELS_SCHEMA
    ]
    table = pa.Table.from_arrays(arrays, schema=RULE_LABELS_SCHEMA)
    return table, Counter(parsed["label"])


def label_partition(
    src: Path, dst: Path, *, workers: int | None = None, batch_rows: int = 50_000
) -> Counter:
    """Rule-label one ``raw_messages`` partition file into one ``rule_labels`` file (atomic).

    Streams ``batch_rows`` messages at a time, so memory is bounded by the batch, not the day.
    """
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    counts: Counter = Counter()
    with parquet_file(src) as source, atomic_path(dst) as tmp:
        writer = pq.ParquetWriter(tmp, RULE_LABELS_SCHEMA, compression="zstd")
        try:
            for batch in source.iter_batches(batch_size=batch_rows):
                table, batch_counts = label_messages(
                    pa.Table.from_batches([batch]), workers=workers
                )
                writer.write_table(table)
                counts.update(batch_counts)
        finally:
            writer.close()
    return counts
