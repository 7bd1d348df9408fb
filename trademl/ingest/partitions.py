"""Write validated rows into daily Parquet partitions of the lake, and the rest into quarantine.

One pass over the rows, flat memory: rows are buffered per partition and flushed as Parquet row
groups into a temporary file; when the pass ends without error every partition file is moved into
place with ``os.replace``, so a re-run replaces a partition atomically and a failed run changes
nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from trademl.ingest.records import Quarantined
from trademl.lake import Lake

UNDATED = "undated"

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("origin", pa.string()),
        ("row_id", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


@dataclass
class PartitionStats:
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0


@dataclass
class IngestStats:
    """What a write did; ``rows_in == accepted + quarantined + duplicates`` for every partition."""

    partitions: dict[str, PartitionStats] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)
    undated_quarantined: int = 0
    skipped_other_partitions: int = 0
    paths: dict[str, str] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(p, name) for p in self.partitions.values())


class _PartitionSink:
    def __init__(self, target: Path, schema: pa.Schema):
        self.target = target
        self.schema = schema
        target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self.writer: pq.ParquetWriter | None = None
        self.columns: list[list[Any]] = [[] for _ in schema.names]

    def add(self, values: Sequence[Any]) -> None:
        for col, value in zip(self.columns, values, strict=True):
            col.append(value)

    def __len__(self) -> int:
        return len(self.columns[0])

    def flush(self) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        table = pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(self.columns, self.schema, strict=True)],
            schema=self.schema,
        )
        self.writer.write_table(table)
        self.columns = [[] for _ in self.schema.names]

    def commit(self) -> None:
        self.flush()
        self.writer.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


def write_partitions(
    rows: Iterable[Any],
    lake: Lake,
    asset: str,
    schema: pa.Schema,
    *,
    partition_of: Callable[[Any], str],
    key_of: Callable[[Any], Any] | None,
    to_values: Callable[[Any], Sequence[Any]] = tuple,
    partitions: Iterable[str] | None = None,
    batch_rows: int = 50_000,
) -> IngestStats:
    """Write ``rows`` (records or :class:`Quarantined`) into ``raw/<asset>`` and ``quarantine/<asset>``.

    Only ``partitions`` are written (all partitions seen when None); every requested partition
    gets a file, empty if no row fell in it, so a re-run that finds nothing clears stale data.
    Rows with the same ``key_of(row)`` within a partition are kept once (the first).
    """
    wanted = None if partitions is None else set(partitions)
    stats = IngestStats()
    sinks: dict[str, _PartitionSink] = {}
    qsinks: dict[str, _PartitionSink] = {}
    seen: dict[str, set] = {}
    buffered = 0

    def sink_for(table: dict[str, _PartitionSink], area: str, part: str, sch: pa.Schema):
        sink = table.get(part)
        if sink is None:
            sink = table[part] = _PartitionSink(lake.partition_path(area, asset, part), sch)
        return sink

    try:
        for part in wanted or ():
            stats.partitions[part] = PartitionStats()
            sink_for(sinks, "raw", part, schema)
            sink_for(qsinks, "quarantine", part, QUARANTINE_SCHEMA)
        for row in rows:
            if isinstance(row, Quarantined):
                part = row.date or UNDATED
                if part == UNDATED:
                    stats.undated_quarantined += 1
                elif wanted is not None and part not in wanted:
                    stats.skipped_other_partitions += 1
                    continue
                else:
                    pstats = stats.partitions.setdefault(part, PartitionStats())
                    pstats.rows_in += 1
                    pstats.quarantined += 1
                stats.reasons[row.reason] += 1
                qsink = sink_for(qsinks, "quarantine", part, QUARANTINE_SCHEMA)
                qsink.add(row[:5])
                if len(qsink) >= batch_rows:
                    qsink.flush()
                continue
            part = partition_of(row)
            if wanted is not None and part not in wanted:
                stats.skipped_other_partitions += 1
                continue
            pstats = stats.partitions.get(part)
            if pstats is None:
                pstats = stats.partitions[part] = PartitionStats()
            pstats.rows_in += 1
            if key_of is not None:
                keys = seen.get(part)
                if keys is None:
                    keys = seen[part] = set()
                # A 64-bit hash keeps the per-day key set small (collisions: ~1e-8 at 1M rows).
                key = hash(key_of(row))
                if key in keys:
                    pstats.duplicates += 1
                    continue
                keys.add(key)
            pstats.accepted += 1
            sink = sinks.get(part) or sink_for(sinks, "raw", part, schema)
            sink.add(to_values(row))
            buffered += 1
            if buffered >= batch_rows:
                # Bound memory by rows buffered over all open days, not per day: flush them all.
                for open_sink in sinks.values():
                    if len(open_sink):
                        open_sink.flush()
                buffered = 0
        for part in stats.partitions:
            sink_for(sinks, "raw", part, schema)
            sink_for(qsinks, "quarantine", part, QUARANTINE_SCHEMA)
    except BaseException:
        for sink in (*sinks.values(), *qsinks.values()):
            sink.abort()
        raise
    for part, sink in sinks.items():
        sink.commit()
        stats.paths[part] = str(sink.target)
    for sink in qsinks.values():
        sink.commit()
    return stats
