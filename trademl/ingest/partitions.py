"""Write validated rows into daily Parquet partitions of the lake, and the rest into quarantine.

One pass over the rows, flat memory: rows are buffered per partition and flushed as Parquet row
groups into a temporary file. When the pass ends every file is finished (closed) first, and only
when all of them are, each lands in one step (``os.replace`` on a local lake, one upload on an
object store; see :mod:`trademl.lake`): a re-run replaces a partition atomically, and a run that
fails, in the pass or while finishing, changes nothing and leaves no temporary file behind (only a
failing rename or upload, after others succeeded, can leave the earlier partitions replaced).

Accounting, per day: ``rows_in = accepted + quarantined + duplicates``. A quarantined row whose
date could be read counts on its day (``quarantine/<asset>/date=<day>.parquet``); one without a
readable date goes to ``date=undated``. Rows that are not data (Telegram service messages) are
counted in ``skipped``, outside ``rows_in``. ``repaired_unicode`` counts rows whose text was
repaired (invalid UTF-8, NUL, lone surrogates; see :mod:`trademl.ingest.decoding`).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from trademl.ingest.records import Quarantined, Skipped
from trademl.lake import Lake, LakePath, publish_file, staging_file

UNDATED = "undated"
_NOTES = (Quarantined, Skipped)

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
    skipped: int = 0  # not data (service messages): outside rows_in
    repaired_unicode: int = 0


@dataclass
class IngestStats:
    """What a write did; ``rows_in == accepted + quarantined + duplicates`` for every partition.

    Every row read is in exactly one of: a day's ``rows_in``, ``undated_quarantined``,
    ``skipped`` (not data; per day in the partition stats) or ``skipped_other_partitions``.
    """

    partitions: dict[str, PartitionStats] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)
    undated_quarantined: int = 0
    skipped_other_partitions: int = 0
    skipped: int = 0
    skip_reasons: Counter = field(default_factory=Counter)
    repaired_unicode: int = 0
    paths: dict[str, str] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(p, name) for p in self.partitions.values())


def repair_surrogates(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (paired ones joined), so it encodes."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _PartitionSink:
    def __init__(self, target: LakePath, schema: pa.Schema):
        self.target = target
        self.schema = schema
        # Local: a sibling, landed by rename; remote lake: local disk, landed by one upload.
        self.tmp = staging_file(target)
        self.writer: pq.ParquetWriter | None = None
        self.columns: list[list[Any]] = [[] for _ in schema.names]
        self.repaired = 0  # rows whose strings had lone surrogates replaced

    def add(self, values: Sequence[Any]) -> None:
        for col, value in zip(self.columns, values, strict=True):
            col.append(value)

    def __len__(self) -> int:
        return len(self.columns[0])

    def _table(self) -> pa.Table:
        return pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(self.columns, self.schema, strict=True)],
            schema=self.schema,
        )

    def flush(self) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        try:
            table = self._table()
        except UnicodeEncodeError:
            # A lone surrogate (from a JSON "\ud800" escape) has no UTF-8 form: replace it.
            bad: set[int] = set()
            for col, f in zip(self.columns, self.schema, strict=True):
                if pa.types.is_string(f.type):
                    for i, value in enumerate(col):
                        if isinstance(value, str) and not _encodes(value):
                            col[i] = repair_surrogates(value)
                            bad.add(i)
            self.repaired += len(bad)
            table = self._table()
        self.writer.write_table(table)
        self.columns = [[] for _ in self.schema.names]

    def finish(self) -> None:
        """Flush and close the temporary file (still not in place)."""
        self.flush()
        self.writer.close()

    def publish(self) -> None:
        publish_file(self.tmp, self.target)

    def abort(self) -> None:
        """Remove the temporary file; never raises (it runs while another error propagates)."""
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


def _jsonable(value: Any, typ: pa.DataType) -> Any:
    if value is not None and pa.types.is_timestamp(typ):
        scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[typ.unit]
        return datetime.fromtimestamp(value / scale, UTC).isoformat()
    return value


def write_partitions(
    rows: Iterable[Any],
    lake: Lake,
    asset: str,
    schema: pa.Schema,
    *,
    partition_of: Callable[[Any], str],
    key_columns: Sequence[str] | None,
    content_columns: Sequence[str] = (),
    to_values: Callable[[Any], Sequence[Any]] = tuple,
    partitions: Iterable[str] | None = None,
    batch_rows: int = 50_000,
) -> IngestStats:
    """Write ``rows`` (records, :class:`Quarantined` or :class:`Skipped`) into ``raw/<asset>`` and
    ``quarantine/<asset>``.

    Only ``partitions`` are written (all partitions seen when None); every requested partition
    gets a file, empty if no row fell in it, so a re-run that finds nothing clears stale data.
    Rows with the same ``key_columns`` (of ``to_values(row)``, in ``schema`` order) within a
    partition are kept once, the first: a later one with the same ``content_columns`` is a
    duplicate, one with other content is quarantined as a conflicting duplicate, with the kept
    row's content beside it. Records have a ``repaired`` count (Unicode repairs made reading).
    """
    wanted = None if partitions is None else set(partitions)
    names = schema.names
    keyget = contentget = None
    if key_columns:
        keyget = itemgetter(*(names.index(c) for c in key_columns))
        contentget = itemgetter(*(names.index(c) for c in content_columns or names))
    stats = IngestStats()
    sinks: dict[str, _PartitionSink] = {}
    qsinks: dict[str, _PartitionSink] = {}
    seen: dict[str, dict[int, int]] = {}  # per day: hash(key) -> hash(content) of the kept row
    conflicts: dict[str, dict[int, list]] = {}  # per day: hash(key) -> [(row, values)]
    conflicts_seen: set[tuple[str, int, int]] = set()
    buffered = 0

    def sink_for(table: dict[str, _PartitionSink], area: str, part: str, sch: pa.Schema):
        sink = table.get(part)
        if sink is None:
            sink = table[part] = _PartitionSink(lake.partition_path(area, asset, part), sch)
        return sink

    def day_stats(part: str) -> PartitionStats:
        pstats = stats.partitions.get(part)
        if pstats is None:
            pstats = stats.partitions[part] = PartitionStats()
        return pstats

    all_sinks = lambda: (*sinks.values(), *qsinks.values())  # noqa: E731
    try:
        for part in wanted or ():
            stats.partitions[part] = PartitionStats()
            sink_for(sinks, "raw", part, schema)
            sink_for(qsinks, "quarantine", part, QUARANTINE_SCHEMA)
        for row in rows:
            if isinstance(row, _NOTES):
                part = row.date or UNDATED
                if part != UNDATED and wanted is not None and part not in wanted:
                    stats.skipped_other_partitions += 1
                    continue
                if isinstance(row, Skipped):
                    stats.skipped += 1
                    stats.skip_reasons[row.reason] += 1
                    if part != UNDATED:
                        day_stats(part).skipped += 1
                    continue
                if part == UNDATED:
                    stats.undated_quarantined += 1
                    stats.repaired_unicode += row.repaired
                else:
                    pstats = day_stats(part)
                    pstats.rows_in += 1
                    pstats.quarantined += 1
                    pstats.repaired_unicode += row.repaired
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
            if row.repaired:
                pstats.repaired_unicode += row.repaired
            values = to_values(row)
            if keyget is not None:
                keys = seen.get(part)
                if keys is None:
                    keys = seen[part] = {}
                # 64-bit hashes keep the per-day memory small (collisions: ~1e-8 at 1M rows).
                key = hash(keyget(values))
                content = hash(contentget(values))
                kept = keys.get(key)
                if kept is not None:
                    if kept == content or (part, key, content) in conflicts_seen:
                        pstats.duplicates += 1
                        continue
                    conflicts_seen.add((part, key, content))
                    conflicts.setdefault(part, {}).setdefault(key, []).append((row, values))
                    pstats.quarantined += 1
                    continue
                keys[key] = content
            pstats.accepted += 1
            sink = sinks.get(part) or sink_for(sinks, "raw", part, schema)
            sink.add(values)
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
        for sink in sinks.values():
            sink.finish()
        for part, by_key in conflicts.items():
            qsink = qsinks[part]
            for row in _conflict_rows(asset, sinks[part], by_key, keyget, key_columns):
                stats.reasons[row.reason] += 1
                qsink.add(row[:5])
        for sink in qsinks.values():
            sink.finish()
    except BaseException:
        for sink in all_sinks():
            sink.abort()
        raise
    pending = list(all_sinks())
    try:
        while pending:
            pending[0].publish()
            pending.pop(0)
    except BaseException:
        for sink in pending:
            sink.abort()
        raise
    for part, sink in sinks.items():
        stats.paths[part] = str(sink.target)
    for table in (sinks, qsinks):
        for part, sink in table.items():
            if part in stats.partitions:
                stats.partitions[part].repaired_unicode += sink.repaired
    stats.repaired_unicode += sum(p.repaired_unicode for p in stats.partitions.values())
    stats.repaired_unicode += qsinks[UNDATED].repaired if UNDATED in qsinks else 0
    return stats


def _conflict_rows(asset, sink, by_key, keyget, key_columns) -> Iterable[Quarantined]:
    """Quarantine rows for the conflicting duplicates of one day, each with the kept content.

    The kept rows are read back from the day's finished temporary file: only days with a
    conflict pay for it, and memory stays one hash per key.
    """
    schema = sink.schema
    kept: dict[int, dict[str, Any]] = {}
    pf = pq.ParquetFile(sink.tmp)
    width = len(schema.names)
    key_idx = [schema.names.index(c) for c in key_columns]
    content_names = [n for n in schema.names if n not in key_columns]
    needed = [n for n in schema.names if n in key_columns or n in content_names]
    for batch in pf.iter_batches(columns=needed):
        cols = []
        for name in needed:
            col = batch.column(name)
            if pa.types.is_timestamp(col.type):
                col = col.cast(pa.int64())
            cols.append(col.to_pylist())
        for j in range(batch.num_rows):
            values = [None] * width
            for name, col in zip(needed, cols, strict=True):
                values[schema.names.index(name)] = col[j]
            key = hash(keyget(values))
            if key in by_key and key not in kept:
                kept[key] = {
                    n: _jsonable(values[schema.names.index(n)], schema.field(n).type)
                    for n in content_names
                }
    for key, items in by_key.items():
        for row, values in items:
            shown = "/".join(str(_jsonable(values[i], schema.field(i).type)) for i in key_idx)
            record = {
                n: _jsonable(v, schema.field(n).type)
                for n, v in zip(schema.names, values, strict=True)
            }
            raw = json.dumps(
                {"row": record, "kept": kept.get(key)}, ensure_ascii=False, default=str
            )
            yield Quarantined(
                getattr(row, "source", asset),
                getattr(row, "origin", "") or asset,
                str(_jsonable(values[key_idx[-1]], schema.field(key_idx[-1]).type)),
                f"conflicting duplicate of {shown}",
                raw,
            )
