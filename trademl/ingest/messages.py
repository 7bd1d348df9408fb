"""Readers for chat messages: Telegram Desktop, DiscordChatExporter, CSV and SQL tables.

Each reader yields :class:`Message` rows or :class:`Quarantined` rows, streaming: no reader holds
a whole export in memory. File-level problems (unreadable, truncated, wrong shape, not UTF-8) raise
:class:`~trademl.errors.InputError` naming the file and the line or character offset; row-level
problems are quarantined on the row's day whenever its date can be read, and repairable text
(invalid UTF-8 bytes, NUL characters) is repaired and counted (see :mod:`trademl.ingest.decoding`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from trademl.errors import InputError
from trademl.ingest.decoding import MAX_MESSAGE_CHARS, csv_records, partial_fields, strip_nul
from trademl.ingest.jsonstream import stream_object_array
from trademl.ingest.records import Quarantined, Skipped, day_of, parse_timestamp, quarantined


class Message(NamedTuple):
    source: str  # telegram | discord | csv | sql
    #: The source's stable id of the channel, which a rename keeps: the Telegram chat id, the
    #: Discord "guild id/channel id", the CSV ``channel_id`` (else ``channel``) column, the SQL
    #: channel column. Only an export without an id falls back to its display name.
    channel: str
    message_id: str  # unique within (source, channel): Telegram ids are per channel
    ts: float  # POSIX seconds, UTC
    text: str
    author: str | None
    reply_to: str | None
    channel_name: str | None = None  # display name (the newest seen); None: same as channel
    origin: str = ""  # file (``path:line`` for CSV) or URL the row came from
    repaired: int = 0  # Unicode repairs made while reading it (see trademl.ingest.decoding)


Row = Message | Quarantined | Skipped


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


def _is_id(value: Any) -> bool:
    return value is not None and value != "" and not isinstance(value, bool | dict | list | float)


def telegram_channel(header: dict[str, Any], path: Path) -> tuple[str, str]:
    """(stable id, display name) of a Telegram export: the chat id and name from its header.

    An export without an ``id`` falls back to its name (or its folder's name) as the identity:
    two such chats with one name are then one channel to de-duplication.
    """
    name = header.get("name")
    name = str(name) if name not in (None, "") else None
    chat_id = header.get("id")
    channel = str(chat_id) if _is_id(chat_id) else name or path.parent.name
    return channel, name or channel


def discord_channel(header: dict[str, Any], path: Path) -> tuple[str, str]:
    """(stable id, display name) of a DiscordChatExporter export: ``guild id/channel id`` and
    ``guild name/channel name``. Without a channel id the names (or the file name) stand in."""
    chan = header.get("channel") if isinstance(header.get("channel"), dict) else {}
    guild = header.get("guild") if isinstance(header.get("guild"), dict) else {}
    name = "/".join(str(x) for x in (guild.get("name"), chan.get("name")) if x) or None
    if _is_id(chan.get("id")):
        ids = (guild.get("id"), chan.get("id")) if _is_id(guild.get("id")) else (chan.get("id"),)
        channel = "/".join(str(x) for x in ids)
    else:
        channel = name or path.stem
    return channel, name or channel


def _too_long(text: str, limit: int) -> str:
    return f"text longer than max_message_chars ({len(text):,} > {limit:,} characters)"


def read_telegram_export(
    path: str | Path,
    *,
    max_message_chars: int = MAX_MESSAGE_CHARS,
    channel_names: Mapping[str, str] | None = None,
) -> Iterator[Row]:
    """Messages of a Telegram Desktop chat export (``result.json``).

    The channel is the chat's ``id`` (its name where an export has none, see
    :func:`telegram_channel`); ``channel_names`` maps ids to the display name to record (the
    newest, when several exports of one chat disagree). Service messages (pins, joins) are
    :class:`Skipped`, counted on their day.
    """
    path = Path(path)
    origin = str(path)
    ident: list[str] = []

    def on_header(header: dict[str, Any]) -> None:
        channel, name = telegram_channel(header, path)
        if channel_names:
            name = channel_names.get(channel, name)
        ident[:] = [channel, name]

    items = stream_object_array(path, "messages", on_header, with_repairs=True)
    for item, repaired in items:
        channel, name = ident
        if not isinstance(item, dict):
            yield quarantined(
                "telegram", origin, None, "message is not a JSON object", item, None, repaired
            )
            continue
        msg_id = item.get("id")
        ts = parse_timestamp(item.get("date_unixtime") or item.get("date"))
        day = None if ts is None else day_of(ts)
        kind = item.get("type")
        if kind != "message":
            if kind == "service":
                yield Skipped("telegram", origin, _opt_str(msg_id), "service message", day)
            else:
                reason = f"unknown message type {kind!r}"
                yield quarantined("telegram", origin, msg_id, reason, item, day, repaired)
            continue
        if not _is_id(msg_id):
            reason = "missing or invalid message id"
            yield quarantined("telegram", origin, msg_id, reason, item, day, repaired)
            continue
        if ts is None:
            yield quarantined("telegram", origin, msg_id, "unparseable date", item, None, repaired)
            continue
        text = telegram_text(item.get("text"))
        if text is None:
            reason = "text has the wrong type"
            yield quarantined("telegram", origin, msg_id, reason, item, day, repaired)
            continue
        if "\x00" in text:
            text, nul = strip_nul(text)
            repaired += nul
        if not text.strip():
            yield quarantined("telegram", origin, msg_id, "no text", item, day, repaired)
            continue
        if len(text) > max_message_chars:
            reason = _too_long(text, max_message_chars)
            yield quarantined("telegram", origin, msg_id, reason, item, day, repaired)
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
            name,
            origin,
            repaired,
        )


def read_discord_export(
    path: str | Path,
    *,
    max_message_chars: int = MAX_MESSAGE_CHARS,
    channel_names: Mapping[str, str] | None = None,
) -> Iterator[Row]:
    """Messages of a DiscordChatExporter JSON export; the channel is ``guild id/channel id``
    (see :func:`discord_channel`), ``channel_names`` as for :func:`read_telegram_export`."""
    path = Path(path)
    origin = str(path)
    ident: list[str] = []

    def on_header(header: dict[str, Any]) -> None:
        channel, name = discord_channel(header, path)
        if channel_names:
            name = channel_names.get(channel, name)
        ident[:] = [channel, name]

    for item, repaired in stream_object_array(path, "messages", on_header, with_repairs=True):
        channel, name = ident
        if not isinstance(item, dict):
            yield quarantined(
                "discord", origin, None, "message is not a JSON object", item, None, repaired
            )
            continue
        msg_id = item.get("id")
        ts = parse_timestamp(item.get("timestamp"))
        day = None if ts is None else day_of(ts)
        if not _is_id(msg_id):
            reason = "missing or invalid message id"
            yield quarantined("discord", origin, msg_id, reason, item, day, repaired)
            continue
        if ts is None:
            yield quarantined("discord", origin, msg_id, "unparseable date", item, None, repaired)
            continue
        text = item.get("content")
        if not isinstance(text, str):
            reason = "content has the wrong type"
            yield quarantined("discord", origin, msg_id, reason, item, day, repaired)
            continue
        text, nul = strip_nul(text)
        repaired += nul
        if not text.strip():
            yield quarantined("discord", origin, msg_id, "no text", item, day, repaired)
            continue
        if len(text) > max_message_chars:
            reason = _too_long(text, max_message_chars)
            yield quarantined("discord", origin, msg_id, reason, item, day, repaired)
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
            name,
            origin,
            repaired,
        )


def export_channel(kind: str, path: Path) -> tuple[str, str, float]:
    """(stable id, display name, export time) of a Telegram or Discord export, from its header.

    The export time is DiscordChatExporter's ``exportedAt`` where readable, else the file's
    modification time (Telegram Desktop writes no export date).
    """
    header: dict[str, Any] = {}
    items = stream_object_array(path, "messages", header.update)
    try:
        next(items, None)
    finally:
        items.close()
    channel, name = (telegram_channel if kind == "telegram" else discord_channel)(header, path)
    stamp = parse_timestamp(header.get("exportedAt")) if kind == "discord" else None
    return channel, name, stamp if stamp is not None else path.stat().st_mtime


def newest_channel_names(kind: str, paths: Sequence[Path]) -> dict[str, str]:
    """For channels exported more than once under different names: id → the newest name."""
    if len(paths) < 2:
        return {}
    newest: dict[str, tuple[float, str, str]] = {}
    names: dict[str, set[str]] = {}
    for path in paths:
        channel, name, stamp = export_channel(kind, path)
        names.setdefault(channel, set()).add(name)
        if channel not in newest or (stamp, str(path)) > newest[channel][:2]:
            newest[channel] = (stamp, str(path), name)
    return {c: newest[c][2] for c, seen in names.items() if len(seen) > 1}


_CSV_ID = ("message_id", "id")
_CSV_TEXT = ("text", "message", "content")
_CSV_DATE = ("date", "timestamp", "datetime", "time")


def read_csv_messages(
    path: str | Path, *, max_message_chars: int = MAX_MESSAGE_CHARS
) -> Iterator[Row]:
    """Messages of a CSV file with a header: an id, a date and a text column (common names accepted).

    Optional columns: ``channel_id`` (the stable id; else ``channel`` is the id too), ``channel``
    (the display name), ``author``, ``reply_to``; the channel defaults to the file's name.
    Rows with more or fewer fields than the header (an unquoted comma in ``62,000``) and rows
    with a field over ``max_message_chars`` are quarantined with the line they start on.
    """
    path = Path(path)
    origin = str(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(origin, f"cannot open: {exc.strerror or exc}") from None
    with fh:
        records = csv_records(path, fh, max_message_chars)
        head = next(records, None)
        if head is not None and (head.fields is None or head.repaired):
            problem = "is not UTF-8" if head.repaired else "has a field over max_message_chars"
            raise InputError(origin, f"line {head.line}: the header {problem}")
        fields = [f.strip().lower() for f in head.fields] if head is not None else []
        if any("\x00" in f for f in fields):
            raise InputError(origin, "the header holds NUL bytes (a UTF-16 file without a BOM?)")
        cols = {}
        for role, names in (("id", _CSV_ID), ("text", _CSV_TEXT), ("date", _CSV_DATE)):
            found = next((n for n in names if n in fields), None)
            if found is None:
                raise InputError(
                    origin, f"no {role} column (looked for {', '.join(names)}; header: {fields})"
                )
            cols[role] = fields.index(found)
        i_id, i_text, i_date = cols["id"], cols["text"], cols["date"]
        opt = {
            n: fields.index(n) if n in fields else None
            for n in ("channel_id", "channel", "author", "reply_to")
        }
        i_chan_id, i_chan, i_author, i_reply = opt.values()
        width = len(fields)
        default_channel = path.stem

        def date_of(values: list[str]) -> str | None:
            ts = parse_timestamp(values[i_date]) if i_date < len(values) else None
            return None if ts is None else day_of(ts)

        for rec in records:
            where = f"{origin}:{rec.line}"
            values = rec.fields
            if values is None:
                values = partial_fields(rec.too_long)
                row_id = values[i_id] if i_id < len(values) else None
                reason = (
                    f"a field is longer than max_message_chars ({max_message_chars:,} "
                    f"characters); raw cut there"
                )
                yield quarantined(
                    "csv",
                    where,
                    row_id or None,
                    reason,
                    rec.too_long,
                    date_of(values),
                    rec.repaired,
                )
                continue
            if len(values) != width:
                row_id = values[i_id] if i_id < len(values) else None
                reason = f"{len(values)} fields where the header has {width} (an unquoted comma?)"
                yield quarantined(
                    "csv", where, row_id or None, reason, values, date_of(values), rec.repaired
                )
                continue
            row_id = values[i_id]
            ts = parse_timestamp(values[i_date])
            day = None if ts is None else day_of(ts)
            text, nul = strip_nul(values[i_text])
            repaired = rec.repaired + nul
            problem = (
                "missing message id"
                if not row_id.strip()
                else "unparseable date"
                if ts is None
                else "no text"
                if not text.strip()
                else None
            )
            if problem is not None:
                row = dict(zip(fields, values, strict=True))
                yield quarantined("csv", where, row_id.strip() or None, problem, row, day, repaired)
                continue
            channel = (
                (values[i_chan_id] if i_chan_id is not None else "")
                or (values[i_chan] if i_chan is not None else "")
                or default_channel
            )
            name = (values[i_chan] if i_chan is not None else "") or channel
            yield Message(
                "csv",
                channel,
                row_id,
                ts,
                text,
                (values[i_author] if i_author is not None else "") or None,
                (values[i_reply] if i_reply is not None else "") or None,
                name,
                where,
                repaired,
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
    max_message_chars: int = MAX_MESSAGE_CHARS,
) -> Iterator[Row]:
    """Messages of a SQL table reached by a SQLAlchemy URL (SQLite, PostgreSQL, ...), streamed.

    The channel column is both the channel's id and its name (the table's name when absent).
    """
    import sqlalchemy as sa

    safe_url = _mask_url(url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        # SQLite would silently create an empty database instead of failing.
        raise InputError(safe_url, "SQLite database file does not exist")
    try:
        engine = sa.create_engine(url)
    except Exception as exc:  # bad URL syntax, unknown dialect, missing driver
        raise InputError(safe_url, f"cannot create a database engine: {exc}") from None
    if engine.dialect.name == "sqlite":
        # SQLite stores whatever bytes it was given; one bad row must not fail the table.
        sa.event.listen(engine, "connect", _lenient_sqlite_text)
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
                    ts = parse_timestamp(date.isoformat() if hasattr(date, "isoformat") else date)
                    day = None if ts is None else day_of(ts)
                    raw = list(rec)
                    fixed = 1 if any(type(v) is _RepairedText for v in raw) else 0
                    if row_id is None or row_id == "":
                        reason = "missing message id"
                        yield quarantined("sql", origin, None, reason, raw, day, fixed)
                        continue
                    if ts is None:
                        reason = "unparseable date"
                        yield quarantined("sql", origin, row_id, reason, raw, None, fixed)
                        continue
                    if not isinstance(text, str):
                        reason = "no text" if text is None else "text has the wrong type"
                        yield quarantined("sql", origin, row_id, reason, raw, day, fixed)
                        continue
                    text, nul = strip_nul(text)
                    fixed += nul
                    if not text.strip():
                        yield quarantined("sql", origin, row_id, "no text", raw, day, fixed)
                        continue
                    if len(text) > max_message_chars:
                        reason = _too_long(text, max_message_chars)
                        yield quarantined("sql", origin, row_id, reason, raw, day, fixed)
                        continue
                    yield Message(
                        "sql",
                        channel,
                        str(row_id),
                        ts,
                        str(text),
                        None,
                        None,
                        channel,
                        origin,
                        fixed,
                    )
    except InputError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(
            safe_url,
            f"cannot read table {table!r}: {exc.__class__.__name__}: {exc.args[0] if exc.args else exc}",
        ) from None
    finally:
        engine.dispose()


class _RepairedText(str):
    """A SQLite text value whose bytes were not UTF-8, decoded with U+FFFD in their place."""


def _sqlite_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _RepairedText(raw.decode("utf-8", "replace"))


def _lenient_sqlite_text(dbapi_connection, _record) -> None:
    dbapi_connection.text_factory = _sqlite_text


def _mask_url(url: str) -> str:
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
