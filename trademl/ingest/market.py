"""Readers for market data: order-book feature records, Binance kline candles, forum posts."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from trademl.errors import InputError
from trademl.ingest.partitions import IngestStats, write_partitions
from trademl.ingest.records import Quarantined, day_of, finite_float, parse_timestamp, quarantined
from trademl.lake import Lake

FEATURE_COLUMNS = (
    "tick_ratio",
    "depth_ratio",
    "price_dist",
    "price",
    "vwap",
    "std_dev",
    "bid_vol",
    "ask_vol",
)

MARKET_FEATURES_SCHEMA = pa.schema(
    [("symbol", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC"))]
    + [(c, pa.float64()) for c in FEATURE_COLUMNS]
)

KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_asset_volume",
    "number_of_trades",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
    "ignore",
)
CANDLES_SCHEMA = pa.schema(
    [("symbol", pa.string()), ("open_time", pa.timestamp("ms", tz="UTC"))]
    + [(c, pa.float64()) for c in ("open", "high", "low", "close", "volume")]
    + [
        ("close_time", pa.timestamp("ms", tz="UTC")),
        ("quote_asset_volume", pa.float64()),
        ("number_of_trades", pa.int64()),
        ("taker_buy_base_volume", pa.float64()),
        ("taker_buy_quote_volume", pa.float64()),
    ]
)

SOCIAL_POSTS_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("date", pa.timestamp("us", tz="UTC")),
        ("author", pa.string()),
        ("title", pa.string()),
        ("body", pa.string()),
        ("image", pa.string()),
        ("rating", pa.int8()),
    ]
)


class FeatureRow(NamedTuple):
    symbol: str
    ts: float
    values: tuple[float, ...]


def _iter_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(origin, record dict) from a JSON Lines, CSV or Parquet file."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}:{line_no}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield (
                        f"{path}:{line_no}",
                        Quarantined(
                            "file",
                            f"{path}:{line_no}",
                            None,
                            f"invalid JSON: {exc.msg}",
                            line.strip()[:2000],
                        ),
                    )
    elif suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for line_no, row in enumerate(csv.DictReader(fh), start=2):
                yield f"{path}:{line_no}", row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=50_000):
            for i, row in enumerate(batch.to_pylist()):
                yield f"{path}#{i}", row
    else:
        raise InputError(
            str(path), f"unsupported file type {suffix!r} (use .jsonl, .csv or .parquet)"
        )


def read_market_features(paths: Iterable[Path]) -> Iterator[FeatureRow | Quarantined]:
    """Order-book feature records (the Go bot's FeatureRecord) from JSONL / CSV / Parquet files."""
    for path in paths:
        default_symbol = path.stem.split("_")[-1].upper()
        for origin, rec in _iter_records(path):
            if isinstance(rec, Quarantined):
                yield rec
                continue
            if not isinstance(rec, dict):
                yield quarantined("market_features", origin, None, "record is not an object", rec)
                continue
            ts = parse_timestamp(rec.get("timestamp"))
            if ts is None:
                yield quarantined("market_features", origin, None, "unparseable timestamp", rec)
                continue
            values = tuple(finite_float(rec.get(c)) for c in FEATURE_COLUMNS)
            bad = [c for c, v in zip(FEATURE_COLUMNS, values, strict=True) if v is None]
            if bad:
                yield quarantined(
                    "market_features",
                    origin,
                    rec.get("timestamp"),
                    f"missing or non-finite {', '.join(bad)}",
                    rec,
                    day_of(ts),
                )
                continue
            yield FeatureRow(str(rec.get("symbol") or default_symbol).upper(), ts, values)


def ingest_market_features(rows, lake: Lake, partitions=None) -> IngestStats:
    return write_partitions(
        rows,
        lake,
        "market_features",
        MARKET_FEATURES_SCHEMA,
        partition_of=lambda r: day_of(r.ts),
        key_of=lambda r: (r.symbol, r.ts),
        to_values=lambda r: (r.symbol, int(r.ts * 1_000_000), *r.values),
        partitions=partitions,
    )


class CandleRow(NamedTuple):
    symbol: str
    values: tuple


def read_candles(paths: Iterable[Path]) -> Iterator[CandleRow | Quarantined]:
    """Binance kline CSV files (``SYMBOL-1m-YYYY-MM-DD.csv``; 12 columns, header optional)."""
    for path in paths:
        symbol = path.name.split("-")[0].upper()
        with open(path, newline="", encoding="utf-8") as fh:
            for line_no, row in enumerate(csv.reader(fh), start=1):
                origin = f"{path}:{line_no}"
                if not row or (line_no == 1 and row[0].strip().lower() == "open_time"):
                    continue
                if len(row) != len(KLINE_COLUMNS):
                    yield quarantined(
                        "candles", origin, None, f"expected 12 columns, found {len(row)}", row
                    )
                    continue
                open_ts = parse_timestamp(row[0].strip())
                close_ts = parse_timestamp(row[6].strip())
                nums = [finite_float(row[i]) for i in (1, 2, 3, 4, 5, 7, 8, 9, 10)]
                if open_ts is None or close_ts is None or any(v is None for v in nums):
                    yield quarantined(
                        "candles",
                        origin,
                        row[0],
                        "unparseable time or non-finite number",
                        row,
                        None if open_ts is None else day_of(open_ts),
                    )
                    continue
                o, h, lo, c, vol, qav, trades, tbb, tbq = nums
                if h < max(o, c) or lo > min(o, c):
                    yield quarantined(
                        "candles",
                        origin,
                        row[0],
                        "high/low inconsistent with open/close",
                        row,
                        day_of(open_ts),
                    )
                    continue
                yield CandleRow(
                    symbol,
                    (
                        int(open_ts * 1000),
                        o,
                        h,
                        lo,
                        c,
                        vol,
                        int(close_ts * 1000),
                        qav,
                        int(trades),
                        tbb,
                        tbq,
                    ),
                )


def ingest_candles(rows, lake: Lake, partitions=None) -> IngestStats:
    return write_partitions(
        rows,
        lake,
        "candles",
        CANDLES_SCHEMA,
        partition_of=lambda r: day_of(r.values[0] / 1000),
        key_of=lambda r: (r.symbol, r.values[0]),
        to_values=lambda r: (r.symbol, *r.values),
        partitions=partitions,
    )


class PostRow(NamedTuple):
    post_id: str
    ts: float
    author: str | None
    title: str
    body: str
    image: str | None
    rating: int | None


def read_social_posts(paths: Iterable[Path]) -> Iterator[PostRow | Quarantined]:
    """Forum posts (JSONL/CSV/Parquet): post_id, date, author, title, body, image, rating 1–3."""
    for path in paths:
        for origin, rec in _iter_records(path):
            if isinstance(rec, Quarantined):
                yield rec
                continue
            if not isinstance(rec, dict) or rec.get("post_id") in (None, ""):
                yield quarantined("social_posts", origin, None, "missing post_id", rec)
                continue
            ts = parse_timestamp(rec.get("date"))
            if ts is None:
                yield quarantined("social_posts", origin, rec["post_id"], "unparseable date", rec)
                continue
            title, body = rec.get("title") or "", rec.get("body") or ""
            if (
                not isinstance(title, str)
                or not isinstance(body, str)
                or not (title + body).strip()
            ):
                yield quarantined(
                    "social_posts", origin, rec["post_id"], "no text", rec, day_of(ts)
                )
                continue
            rating = rec.get("rating")
            if rating in ("", None):
                rating = None
            else:
                try:
                    rating = int(rating)
                except (TypeError, ValueError):
                    rating = -1
                if rating not in (1, 2, 3):
                    yield quarantined(
                        "social_posts",
                        origin,
                        rec["post_id"],
                        f"rating {rec.get('rating')!r} not in 1-3",
                        rec,
                        day_of(ts),
                    )
                    continue
            yield PostRow(
                str(rec["post_id"]),
                ts,
                rec.get("author"),
                title,
                body,
                rec.get("image") or None,
                rating,
            )


def ingest_social_posts(rows, lake: Lake, partitions=None) -> IngestStats:
    return write_partitions(
        rows,
        lake,
        "social_posts",
        SOCIAL_POSTS_SCHEMA,
        partition_of=lambda r: day_of(r.ts),
        key_of=lambda r: r.post_id,
        to_values=lambda r: (r.post_id, int(r.ts * 1_000_000), *r[2:]),
        partitions=partitions,
    )
