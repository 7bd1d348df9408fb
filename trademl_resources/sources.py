"""Message and market-data sources as Dagster resources."""

from pathlib import Path

import dagster as dg

from trademl.errors import InputError
from trademl.ingest.decoding import MAX_MESSAGE_CHARS
from trademl.ingest.sources import MessageSources


class MessageSourcesResource(dg.ConfigurableResource):
    """Chat exports in an inbox folder (telegram/, discord/, csv/) plus an optional SQL table."""

    inbox: str | None = "var/demo_data"
    telegram_files: list[str] = []
    discord_files: list[str] = []
    csv_files: list[str] = []
    sql_url: str | None = None
    sql_table: str = "messages"
    sql_id_column: str = "message_id"
    sql_date_column: str = "date"
    sql_text_column: str = "text"
    #: A message text longer than this is quarantined; CSV fields may be this long.
    max_message_chars: int = MAX_MESSAGE_CHARS

    def sources(self) -> MessageSources:
        return MessageSources(
            inbox=self.inbox,
            telegram=tuple(self.telegram_files),
            discord=tuple(self.discord_files),
            csv=tuple(self.csv_files),
            sql_url=self.sql_url,
            sql_table=self.sql_table,
            sql_columns={
                "id_column": self.sql_id_column,
                "date_column": self.sql_date_column,
                "text_column": self.sql_text_column,
            },
            max_message_chars=self.max_message_chars,
        )


class MarketSourcesResource(dg.ConfigurableResource):
    """Folder with market/ (order-book features), candles/ (Binance klines), social/ (posts)."""

    root: str = "var/demo_data"

    def _folder(self, name: str) -> Path:
        folder = Path(self.root) / name
        if not folder.is_dir():
            raise InputError(
                str(folder),
                "folder does not exist",
                "run `trademl demo-data` or set the market root",
            )
        return folder

    def feature_files(self) -> list[Path]:
        folder = self._folder("market")
        return sorted(p for ext in ("jsonl", "csv", "parquet") for p in folder.glob(f"*.{ext}"))

    def candle_files(self) -> list[Path]:
        return sorted(self._folder("candles").glob("*.csv"))

    def post_files(self) -> list[Path]:
        folder = self._folder("social")
        return sorted(p for ext in ("jsonl", "csv", "parquet") for p in folder.glob(f"*.{ext}"))
