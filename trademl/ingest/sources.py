"""Where messages come from, and ingesting them all into ``raw_messages`` partitions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from trademl.errors import InputError
from trademl.ingest.messages import (
    Message,
    Row,
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
        ("channel", pa.string()),
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
    """

    inbox: str | None = None
    telegram: tuple[str, ...] = ()
    discord: tuple[str, ...] = ()
    csv: tuple[str, ...] = ()
    sql_url: str | None = None
    sql_table: str = "messages"
    sql_columns: dict[str, str] = field(default_factory=dict)

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
    """Every row of every configured source, in source order, streaming."""
    readers = {
        "telegram": read_telegram_export,
        "discord": read_discord_export,
        "csv": read_csv_messages,
    }
    for kind, paths in sources.files().items():
        for path in paths:
            yield from readers[kind](path)
    if sources.sql_url:
        yield from read_sql_messages(sources.sql_url, sources.sql_table, **sources.sql_columns)


def _message_values(m: Message):
    return (m.source, m.channel, m.message_id, int(m.ts * 1_000_000), m.text, m.author, m.reply_to)


def ingest_messages(
    rows: Iterable[Row], lake: Lake, partitions: Iterable[str] | None = None
) -> IngestStats:
    """Write message rows into ``raw/raw_messages`` (dedup by source, channel, message id)."""
    return write_partitions(
        rows,
        lake,
        "raw_messages",
        MESSAGE_SCHEMA,
        partition_of=lambda m: day_of(m.ts),
        key_of=lambda m: (m.source, m.channel, m.message_id),
        to_values=_message_values,
        partitions=partitions,
    )
