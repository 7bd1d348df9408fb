"""What changed in an inbox of export files, and which days the changes cover."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from trademl.ingest.messages import (
    Message,
    read_csv_messages,
    read_discord_export,
    read_telegram_export,
)
from trademl.ingest.records import day_of
from trademl.ingest.sources import MessageSources

_READERS = {
    "telegram": read_telegram_export,
    "discord": read_discord_export,
    "csv": read_csv_messages,
}


def inbox_changes(
    sources: MessageSources, previous: dict[str, str]
) -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """Files that are new or changed since ``previous`` (path → "size:mtime_ns"), and the new state."""
    current: dict[str, str] = {}
    changed: list[tuple[str, Path]] = []
    for kind, paths in sources.files().items():
        for path in paths:
            st = path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
            current[str(path)] = stamp
            if previous.get(str(path)) != stamp:
                changed.append((kind, path))
    return changed, current


def days_in_files(files: Iterable[tuple[str, Path]]) -> set[str]:
    """The UTC days (partition keys) that the rows in ``files`` fall on: messages, and the
    quarantined or skipped rows whose date could be read (they count on their day too)."""
    days: set[str] = set()
    for kind, path in files:
        for row in _READERS[kind](path):
            if isinstance(row, Message):
                days.add(day_of(row.ts))
            elif row.date is not None:
                days.add(row.date)
    return days
