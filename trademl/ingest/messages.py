"""Readers for chat messages: Telegram Desktop, DiscordChatExporter, CSV and SQL tables.

Each reader yields :class:`Message` rows or :class:`Quarantined` rows, streaming: no reader holds
a whole export in memory. File-level problems (unreadable, truncated, wrong shape) raise
:class:`~trademl.errors.InputError` naming the file; row-level problems are quarantined.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from trademl.errors import InputError
from trademl.ingest.jsonstream import stream_object_array
from trademl.ingest.records import Quarantined, day_of, parse_timestamp, quarantined


class Message(NamedTuple):
    source: str  # telegram | discord | csv | sql
    channel: str
    message_id: str  # unique within (source, channel): Telegram ids are per channel
    ts: float  # POSIX seconds, UTC
    text: str
    author: str | None
    reply_to: str | None


Row = Message | Quarantined

_TELEGRAM_TYPES = {"message", "service"}


def telegram_text(text: Any) -> str | None:
    """The plain text of a Telegram ``text`` field: a string, or a list of strings and entities."""
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        parts = []
        for part in text:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                return None
        return "".join(parts)
    return None


def read_telegram_export(path: str | Path) -> Iterator[Row]:
    """Messages of a Telegram Desktop chat export (``result.json``). Service messages are skipped."""
    path = Path(path)
    origin = str(path)
    header: dict[str, Any] = {}
    for item in stream_object_array(path, "messages", header.update):
        channel = str(header.get("name") or header.get("id") or path.parent.name)
        if not isinstance(item, dict):
            yield quarantined("telegram", origin, None, "message is not a JSON object", item)
            continue
        msg_id = item.get("id")
        kind = item.get("type")
        if kind not in _TELEGRAM_TYPES:
            yield quarantined("telegram", origin, msg_id, f"unknown message type {kind!r}", item)
            continue
        if kind == "service":
            continue
        if msg_id is None or isinstance(msg_id, bool | dict | list):
            yield quarantined("telegram", origin, msg_id, "missing or invalid message id", item)
            continue
        ts = parse_timestamp(item.get("date_unixtime") or item.get("date"))
        if ts is None:
            yield quarantined("telegram", origin, msg_id, "unparseable date", item)
            continue
        text = telegram_text(item.get("text"))
        if text is None:
            yield quarantined("telegram", origin, msg_id, "text has the wrong type", item)
            continue
        if not text.strip():
            yield quarantined("telegram", origin, msg_id, "no text", item, day_of(ts))
            continue
        reply = item.get("reply_to_message_id")
        yield Message(
            "telegram",
            channel,
            str(msg_id),
            ts,
            text,
            _opt_str(item.get("from")),
            None if reply is None else str(reply),
        )


def read_discord_export(path: str | Path) -> Iterator[Row]:
    """Messages of a DiscordChatExporter JSON export."""
    path = Path(path)
    origin = str(path)
    header: dict[str, Any] = {}
    for item in stream_object_array(path, "messages", header.update):
        chan = header.get("channel") if isinstance(header.get("channel"), dict) else {}
        guild = header.get("guild") if isinstance(header.get("guild"), dict) else {}
        channel = "/".join(str(x) for x in (guild.get("name"), chan.get("name")) if x) or path.stem
        if not isinstance(item, dict):
            yield quarantined("discord", origin, None, "message is not a JSON object", item)
            continue
        msg_id = item.get("id")
        if msg_id is None or isinstance(msg_id, bool | dict | list):
            yield quarantined("discord", origin, msg_id, "missing or invalid message id", item)
            continue
        ts = parse_timestamp(item.get("timestamp"))
        if ts is None:
            yield quarantined("discord", origin, msg_id, "unparseable date", item)
            continue
        text = item.get("content")
        if not isinstance(text, str):
            yield quarantined("discord", origin, msg_id, "content has the wrong type", item)
            continue
        if not text.strip():
            yield quarantined("discord", origin, msg_id, "no text", item, day_of(ts))
            continue
        author = item.get("author") if isinstance(item.get("author"), dict) else {}
        ref = item.get("reference") if isinstance(item.get("reference"), dict) else {}
        yield Message(
            "discord",
            channel,
            str(msg_id),
            ts,
            text,
            _opt_str(author.get("nickname") or author.get("name")),
            _opt_str(ref.get("messageId")),
        )


_CSV_ID = ("message_id", "id")
_CSV_TEXT = ("text", "message", "content")
_CSV_DATE = ("date", "timestamp", "datetime", "time")


def read_csv_messages(path: str | Path) -> Iterator[Row]:
    """Messages of a CSV file with a header: an id, a date and a text column (common names accepted)."""
    path = Path(path)
    origin = str(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
    except OSError as exc:
        raise InputError(origin, f"cannot open: {exc.strerror or exc}") from None
    with fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        reader.fieldnames = fields
        cols = {}
        for role, names in (("id", _CSV_ID), ("text", _CSV_TEXT), ("date", _CSV_DATE)):
            found = next((n for n in names if n in fields), None)
            if found is None:
                raise InputError(
                    origin, f"no {role} column (looked for {', '.join(names)}; header: {fields})"
                )
            cols[role] = found
        default_channel = path.stem
        for line_no, row in enumerate(reader, start=2):
            row_id = row.get(cols["id"])
            if not row_id:
                yield quarantined("csv", f"{origin}:{line_no}", None, "missing message id", row)
                continue
            ts = parse_timestamp(row.get(cols["date"]))
            if ts is None:
                yield quarantined("csv", f"{origin}:{line_no}", row_id, "unparseable date", row)
                continue
            text = row.get(cols["text"])
            if text is None or not text.strip():
                yield quarantined("csv", f"{origin}:{line_no}", row_id, "no text", row, day_of(ts))
                continue
            yield Message(
                "csv",
                row.get("channel") or default_channel,
                str(row_id),
                ts,
                text,
                row.get("author") or None,
                row.get("reply_to") or None,
            )


def read_sql_messages(
    url: str,
    table: str = "messages",
    *,
    id_column: str = "message_id",
    date_column: str = "date",
    text_column: str = "text",
    channel_column: str | None = "channel",
    batch_size: int = 10_000,
) -> Iterator[Row]:
    """Messages of a SQL table reached by a SQLAlchemy URL (SQLite, PostgreSQL, ...), streamed."""
    import sqlalchemy as sa

    safe_url = _mask_url(url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        # SQLite would silently create an empty database instead of failing.
        raise InputError(safe_url, "SQLite database file does not exist")
    try:
        engine = sa.create_engine(url)
    except Exception as exc:  # bad URL syntax, unknown dialect, missing driver
        raise InputError(safe_url, f"cannot create a database engine: {exc}") from None
    try:
        with engine.connect() as conn:
            meta = sa.MetaData()
            try:
                tbl = sa.Table(table, meta, autoload_with=conn)
            except sa.exc.NoSuchTableError:
                raise InputError(safe_url, f"no table {table!r}") from None
            wanted = [id_column, date_column, text_column] + (
                [channel_column] if channel_column else []
            )
            missing = [c for c in wanted if c not in tbl.c and c != channel_column]
            if missing:
                raise InputError(
                    safe_url,
                    f"table {table!r} has no column(s) {missing} (has {list(tbl.c.keys())})",
                )
            chan_col = channel_column if channel_column in tbl.c else None
            cols = [tbl.c[id_column], tbl.c[date_column], tbl.c[text_column]]
            if chan_col:
                cols.append(tbl.c[chan_col])
            result = conn.execution_options(stream_results=True).execute(sa.select(*cols))
            origin = f"{safe_url}#{table}"
            while batch := result.fetchmany(batch_size):
                for rec in batch:
                    row_id, date, text = rec[0], rec[1], rec[2]
                    channel = str(rec[3]) if chan_col and rec[3] is not None else table
                    if row_id is None:
                        yield quarantined("sql", origin, None, "missing message id", list(rec))
                        continue
                    ts = parse_timestamp(date.isoformat() if hasattr(date, "isoformat") else date)
                    if ts is None:
                        yield quarantined("sql", origin, row_id, "unparseable date", list(rec))
                        continue
                    if not isinstance(text, str) or not text.strip():
                        yield quarantined("sql", origin, row_id, "no text", list(rec), day_of(ts))
                        continue
                    yield Message("sql", channel, str(row_id), ts, text, None, None)
    except InputError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(
            safe_url,
            f"cannot read table {table!r}: {exc.__class__.__name__}: {exc.args[0] if exc.args else exc}",
        ) from None
    finally:
        engine.dispose()


def _mask_url(url: str) -> str:
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
