"""Validated rows and quarantined rows, as ingest readers yield them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, NamedTuple


class Quarantined(NamedTuple):
    """A row that failed validation: kept, with the reason, never silently dropped."""

    source: str
    origin: str  # file or URL the row came from (``path:line`` where lines mean something)
    row_id: str | None
    reason: str
    raw: str  # the row as JSON, so nothing is lost
    date: str | None = None  # partition, whenever the row's date could be read
    repaired: int = 0  # Unicode repairs made while reading the row (see trademl.ingest.decoding)


class Skipped(NamedTuple):
    """A row that is not data by design (a Telegram service message: a pin, a join), counted.

    Skipped rows are not in a day's ``rows_in``: they are counted in its ``skipped`` column, so
    that every row read is explained, and nothing is written for them.
    """

    source: str
    origin: str
    row_id: str | None
    reason: str
    date: str | None = None


def quarantined(
    source: str, origin: str, row_id: Any, reason: str, raw: Any, date=None, repaired: int = 0
) -> Quarantined:
    try:
        raw_json = json.dumps(raw, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        raw_json = repr(raw)
    return Quarantined(
        source, origin, None if row_id is None else str(row_id), reason, raw_json, date, repaired
    )


_DAY_CACHE: dict[int, str] = {}


def day_of(ts: float) -> str:
    """The UTC calendar day (``YYYY-MM-DD``) of a POSIX timestamp: the partition key."""
    day = int(ts // 86400)
    iso = _DAY_CACHE.get(day)
    if iso is None:
        iso = datetime.fromtimestamp(day * 86400, UTC).date().isoformat()
        _DAY_CACHE[day] = iso
    return iso


def parse_timestamp(value: Any) -> float | None:
    """POSIX seconds from an ISO-8601 string (naive = UTC), epoch seconds/ms, or None if unparseable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        ts = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.lstrip("-").isdecimal():
            try:
                ts = float(text)
            except ValueError:  # "--5"
                return None
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                ts = parsed.timestamp()
            except (ValueError, OverflowError, OSError):
                return None
            return ts if 0 < ts < 4.1e9 else None
    else:
        return None
    if not math.isfinite(ts):
        return None
    if ts > 1e11:  # milliseconds (Binance, Discord snowflake-derived exports)
        ts /= 1000.0
    if not 0 < ts < 4.1e9:
        return None
    return ts


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (strings like "inf", "NaN" and "" count as bad)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
