"""Readers for market data: order-book feature records, Binance kline candles, forum posts.

Bad input is handled as for messages (see :mod:`trademl.ingest.messages`): file-level trouble is
an :class:`~trademl.errors.InputError` naming the file and line, a bad row is quarantined on its
day when its date can be read, repairable text is repaired and counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from trademl.errors import InputError
from trademl.ingest.decoding import (
    MAX_MESSAGE_CHARS,
    csv_records,
    json_lines,
    partial_fields,
    strip_nul,
)
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
    origin: str = ""
    repaired: int = 0


_JSON = json.JSONDecoder(strict=False)


def _open(path: Path):
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller's with
    except OSError as exc:
        raise InputError(str(path), f"cannot open: {exc.strerror or exc}") from None


def _iter_records(path: Path, source: str) -> Iterator[tuple[str, Any, int]]:
    """(origin, record dict or Quarantined, repairs) from a JSON Lines, CSV or Parquet file.

    Text is decoded as :mod:`trademl.ingest.decoding` says (invalid UTF-8 repaired and counted,
    a file that is not UTF-8 refused naming its first bad line); a CSV row with more or fewer
    fields than the header, and a JSON line that does not parse, are quarantined with the line.
    """
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with _open(path) as fh:
            for line_no, line, repaired in json_lines(path, fh):
                origin = f"{path}:{line_no}"
                try:
                    value, end = _JSON.raw_decode(line, len(line) - len(line.lstrip()))
                    if line[end:].strip():
                        raise ValueError(f"extra data at column {end + 1}")
                except (ValueError, RecursionError) as exc:
                    problem = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    raw = line.strip()[:2000]
                    yield (
                        origin,
                        quarantined(
                            source, origin, None, f"invalid JSON: {problem}", raw, None, repaired
                        ),
                        repaired,
                    )
                    continue
                yield origin, value, repaired
    elif suffix == ".csv":
        with _open(path) as fh:
            records = csv_records(path, fh, MAX_MESSAGE_CHARS)
            head = next(records, None)
            if head is None:
                return
            if head.fields is None or head.repaired:
                raise InputError(str(path), f"line {head.line}: the header is not UTF-8 text")
            fields = [f.strip() for f in head.fields]
            for rec in records:
                origin = f"{path}:{rec.line}"
                if rec.fields is None or len(rec.fields) != len(fields):
                    got = "a field too long" if rec.fields is None else f"{len(rec.fields)} fields"
                    raw = rec.too_long if rec.fields is None else rec.fields
                    partial = partial_fields(rec.too_long) if rec.fields is None else rec.fields
                    reason = f"{got} where the header has {len(fields)} fields"
                    q = quarantined(source, origin, None, reason, raw, None, rec.repaired)
                    yield origin, (q, dict(zip(fields, partial, strict=False))), rec.repaired
                    continue
                yield origin, dict(zip(fields, rec.fields, strict=True)), rec.repaired
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            i = 0
            for batch in pf.iter_batches(batch_size=50_000):
                for row in batch.to_pylist():
                    yield f"{path}#{i}", row, 0
                    i += 1
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise InputError(str(path), f"not a readable Parquet file: {exc}") from None
    else:
        raise InputError(
            str(path), f"unsupported file type {suffix!r} (use .jsonl, .csv or .parquet)"
        )


def _bad_shape(rec: Any, date_key: str, ts_of=parse_timestamp):
    """A quarantined row from _iter_records, re-dated when its date can still be read."""
    q, partial = rec
    ts = ts_of(partial.get(date_key))
    return q if ts is None else q._replace(date=day_of(ts))


def read_market_features(paths: Iterable[Path]) -> Iterator[FeatureRow | Quarantined]:
    """Order-book feature records (the Go bot's FeatureRecord) from JSONL / CSV / Parquet files."""
    for path in paths:
        default_symbol = path.stem.split("_")[-1].upper()
        for origin, rec, repaired in _iter_records(path, "market_features"):
            if isinstance(rec, Quarantined):
                yield rec
                continue
            if isinstance(rec, tuple):
                yield _bad_shape(rec, "timestamp")
                continue
            if not isinstance(rec, dict):
                yield quarantined(
                    "market_features", origin, None, "record is not an object", rec, None, repaired
                )
                continue
            ts = parse_timestamp(rec.get("timestamp"))
            if ts is None:
                yield quarantined(
                    "market_features", origin, None, "unparseable timestamp", rec, None, repaired
                )
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
                    repaired,
                )
                continue
            symbol, nul = strip_nul(str(rec.get("symbol") or default_symbol).upper())
            if not symbol.strip():
                yield quarantined(
                    "market_features", origin, None, "no symbol", rec, day_of(ts), repaired + nul
                )
                continue
            yield FeatureRow(symbol, ts, values, origin, repaired + nul)


def ingest_market_features(rows, lake: Lake, partitions=None) -> IngestStats:
    return write_partitions(
        rows,
        lake,
        "market_features",
        MARKET_FEATURES_SCHEMA,
        partition_of=lambda r: day_of(r.ts),
        key_columns=("symbol", "timestamp"),
        to_values=lambda r: (r.symbol, int(r.ts * 1_000_000), *r.values),
        partitions=partitions,
    )


class CandleRow(NamedTuple):
    symbol: str
    values: tuple
    origin: str = ""
    repaired: int = 0


def read_candles(paths: Iterable[Path]) -> Iterator[CandleRow | Quarantined]:
    """Binance kline CSV files (``SYMBOL-1m-YYYY-MM-DD.csv``; 12 columns, header optional)."""
    for path in paths:
        symbol = path.name.split("-")[0].upper()
        with _open(path) as fh:
            for rec in csv_records(path, fh, MAX_MESSAGE_CHARS):
                origin, repaired = f"{path}:{rec.line}", rec.repaired
                row = rec.fields
                if row is None:
                    row = partial_fields(rec.too_long)
                    open_ts = parse_timestamp(row[0].strip()) if row else None
                    yield quarantined(
                        "candles",
                        origin,
                        row[0] if row else None,
                        "a field is too long",
                        rec.too_long,
                        None if open_ts is None else day_of(open_ts),
                        repaired,
                    )
                    continue
                if rec.line == 1 and row[0].strip().lower() == "open_time":
                    continue
                open_ts = parse_timestamp(row[0].strip())
                day = None if open_ts is None else day_of(open_ts)
                if len(row) != len(KLINE_COLUMNS):
                    yield quarantined(
                        "candles",
                        origin,
                        row[0],
                        f"expected 12 columns, found {len(row)}",
                        row,
                        day,
                        repaired,
                    )
                    continue
                close_ts = parse_timestamp(row[6].strip())
                nums = [finite_float(row[i]) for i in (1, 2, 3, 4, 5, 7, 8, 9, 10)]
                if open_ts is None or close_ts is None or any(v is None for v in nums):
                    yield quarantined(
                        "candles",
                        origin,
                        row[0],
                        "unparseable time or non-finite number",
                        row,
                        day,
                        repaired,
                    )
                    continue
                o, h, lo, c, vol, qav, trades, tbb, tbq = nums
                if not (trades.is_integer() and 0 <= trades < 2**63):
                    yield quarantined(
                        "candles",
                        origin,
                        row[0],
                        "number_of_trades is not a count",
                        row,
                        day,
                        repaired,
                    )
                    continue
                if h < max(o, c) or lo > min(o, c):
                    yield quarantined(
                        "candles",
                        origin,
                        row[0],
                        "high/low inconsistent with open/close",
                        row,
                        day,
                        repaired,
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
                    origin,
                    repaired,
                )


def ingest_candles(rows, lake: Lake, partitions=None) -> IngestStats:
    return write_partitions(
        rows,
        lake,
        "candles",
        CANDLES_SCHEMA,
        partition_of=lambda r: day_of(r.values[0] / 1000),
        key_columns=("symbol", "open_time"),
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
    origin: str = ""
    repaired: int = 0


def _rating(value: Any) -> int | None:
    """1, 2 or 3 from an int, an integral float or a string; None when it is none of those."""
    if isinstance(value, bool):
        return None
    number = finite_float(value)
    if number is None or not number.is_integer() or int(number) not in (1, 2, 3):
        return None
    return int(number)


def read_social_posts(paths: Iterable[Path]) -> Iterator[PostRow | Quarantined]:
    """Forum posts (JSONL/CSV/Parquet): post_id, date, author, title, body, image, rating 1–3."""
    for path in paths:
        for origin, rec, repaired in _iter_records(path, "social_posts"):
            if isinstance(rec, Quarantined):
                yield rec
                continue
            if isinstance(rec, tuple):
                yield _bad_shape(rec, "date")
                continue
            if not isinstance(rec, dict):
                yield quarantined(
                    "social_posts", origin, None, "record is not an object", rec, None, repaired
                )
                continue
            ts = parse_timestamp(rec.get("date"))
            day = None if ts is None else day_of(ts)
            post_id = rec.get("post_id")
            if post_id in (None, "") or isinstance(post_id, bool | dict | list):
                yield quarantined(
                    "social_posts", origin, None, "missing post_id", rec, day, repaired
                )
                continue
            if ts is None:
                yield quarantined(
                    "social_posts", origin, post_id, "unparseable date", rec, None, repaired
                )
                continue
            title, body = rec.get("title") or "", rec.get("body") or ""
            if not isinstance(title, str) or not isinstance(body, str):
                yield quarantined(
                    "social_posts", origin, post_id, "title or body is not text", rec, day, repaired
                )
                continue
            (title, nul_t), (body, nul_b) = strip_nul(title), strip_nul(body)
            repaired += nul_t or nul_b
            if not (title + body).strip():
                yield quarantined("social_posts", origin, post_id, "no text", rec, day, repaired)
                continue
            if len(title) + len(body) > MAX_MESSAGE_CHARS:
                reason = f"text longer than {MAX_MESSAGE_CHARS:,} characters"
                yield quarantined("social_posts", origin, post_id, reason, rec, day, repaired)
                continue
            rating = rec.get("rating")
            if rating in ("", None):
                rating = None
            else:
                rating = _rating(rec.get("rating"))
                if rating is None:
                    yield quarantined(
                        "social_posts",
                        origin,
                        post_id,
                        f"rating {rec.get('rating')!r} not in 1-3",
                        rec,
                        day,
                        repaired,
                    )
                    continue
            yield PostRow(
                str(post_id),
                ts,
                _opt_str(rec.get("author")),
                title,
                body,
                _opt_str(rec.get("image") or None),
                rating,
                origin,
                repaired,
            )


def ingest_social_posts(rows, lake: Lake, partitions=None) -> IngestStats:
    return write_partitions(
        rows,
        lake,
        "social_posts",
        SOCIAL_POSTS_SCHEMA,
        partition_of=lambda r: day_of(r.ts),
        key_columns=("post_id",),
        to_values=lambda r: (r.post_id, int(r.ts * 1_000_000), *r[2:7]),
        partitions=partitions,
    )


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return strip_nul(value if isinstance(value, str) else str(value))[0]
