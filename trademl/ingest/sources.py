"""Where messages come from, and ingesting them all into ``raw_messages`` partitions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from trademl.errors import InputError
from trademl.ingest.decoding import MAX_MESSAGE_CHARS
from trademl.ingest.messages import (
    Message,
    Row,
    newest_channel_names,
    read_csv_messages,
    read_discord_export,
    read_sql_messages,
    read_telegram_export,
)
from trademl.ingest.partitions import IngestStats, write_partitions
from trademl.ingest.records import day_of
from trademl.lake import Lake

MESSAGE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("channel", pa.string()),  # the source's stable id of the channel (see Message.channel)
        ("channel_name", pa.string()),  # its display name, the newest seen
        ("message_id", pa.string()),
        ("date", pa.timestamp("us", tz="UTC")),
        ("text", pa.string()),
        ("author", pa.string()),
        ("reply_to", pa.string()),
    ]
)


@dataclass(frozen=True)
class MessageSources:
    """The configured mix of message sources.

    ``inbox`` is a folder laid out as exporters leave files: ``telegram/**/result.json``
    (Telegram Desktop), ``discord/*.json`` (DiscordChatExporter), ``csv/*.csv``. ``sql_url`` adds a
    table read through SQLAlchemy (SQLite by default, PostgreSQL in production).
    ``max_message_chars``: a text longer than this is quarantined (and CSV fields may be this long).
    """

    inbox: str | None = None
    telegram: tuple[str, ...] = ()
    discord: tuple[str, ...] = ()
    csv: tuple[str, ...] = ()
    sql_url: str | None = None
    sql_table: str = "messages"
    sql_columns: dict[str, str] = field(default_factory=dict)
    max_message_chars: int = MAX_MESSAGE_CHARS

    def files(self) -> dict[str, list[Path]]:
        found = {
            "telegram": [Path(p) for p in self.telegram],
            "discord": [Path(p) for p in self.discord],
            "csv": [Path(p) for p in self.csv],
        }
        if self.inbox is not None:
            inbox = Path(self.inbox)
            if not inbox.is_dir():
                raise InputError(
                    str(inbox),
                    "inbox folder does not exist",
                    "run `trademl demo-data` or point the sources' inbox at your exports",
                )
            found["telegram"] += sorted(inbox.glob("telegram/**/result.json"))
            found["discord"] += sorted(inbox.glob("discord/*.json"))
            found["csv"] += sorted(inbox.glob("csv/*.csv"))
        for kind, paths in found.items():
            for p in paths:
                if not p.is_file():
                    raise InputError(str(p), f"configured {kind} export does not exist")
        return found


def iter_messages(sources: MessageSources) -> Iterator[Row]:
    """Every row of every configured source, in source order, streaming.

    A chat exported more than once under different names (renamed in between) is one channel;
    all its rows carry the newest name (see :func:`newest_channel_names`).
    """
    limit = sources.max_message_chars
    for kind, paths in sources.files().items():
        if kind == "csv":
            for path in paths:
                yield from read_csv_messages(path, max_message_chars=limit)
            continue
        reader = read_telegram_export if kind == "telegram" else read_discord_export
        names = newest_channel_names(kind, paths)
        for path in paths:
            yield from reader(path, max_message_chars=limit, channel_names=names)
    if sources.sql_url:
        yield from read_sql_messages(
            sources.sql_url, sources.sql_table, max_message_chars=limit, **sources.sql_columns
        )


def _message_values(m: Message):
    return (
        m.source,
        m.channel,
        m.channel if m.channel_name is None else m.channel_name,
        m.message_id,
        int(m.ts * 1_000_000),
        m.text,
        m.author,
        m.reply_to,
    )


def ingest_messages(
    rows: Iterable[Row], lake: Lake, partitions: Iterable[str] | None = None
) -> IngestStats:
    """Write message rows into ``raw/raw_messages``, deduplicated by (source, channel, message id).

    The same key with another text (an edit between two exports) is a conflicting duplicate: the
    first stays, the other is quarantined with both texts.
    """
    return write_partitions(
        rows,
        lake,
        "raw_messages",
        MESSAGE_SCHEMA,
        partition_of=lambda m: day_of(m.ts),
        key_columns=("source", "channel", "message_id"),
        content_columns=("text",),
        to_values=_message_values,
        partitions=partitions,
    )
